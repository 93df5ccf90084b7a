"""Where models and their artifacts live: the artifact bucket and key, the model package group
and the project's notification topic."""
