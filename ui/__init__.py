"""The chat screen: a thin Gradio client over `qa.service.QAService`."""
