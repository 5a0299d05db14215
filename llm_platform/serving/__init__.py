"""The embedded serving data plane: an OpenAI-compatible model server and a weighted gateway."""
