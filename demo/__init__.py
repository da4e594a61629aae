"""The Gradio demo: personalized headlines, posters and covers for one reader, in the browser."""
