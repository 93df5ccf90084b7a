"""What starts the pipelines: the retraining schedule, the new-data trigger and the model
approval rules."""
