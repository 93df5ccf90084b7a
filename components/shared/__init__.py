"""Building blocks every capability uses: Lambda functions and layers, source repositories,
queues, pipeline references and the cdk-nag acknowledgments."""
