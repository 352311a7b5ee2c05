"""The program every series runs, and what counts as its success."""

HELLO_CODE = 'print("hello")'
HELLO_STDOUT = "hello\n"
# epicbox and Crucible's docker backend start the same image.
PYTHON_IMAGE = "crucible/executor-python:latest"
