"""MLflow tracking servers over REST."""
