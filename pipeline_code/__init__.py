"""SageMaker training pipeline: step scripts, hyperparameters and the pipeline definition.

Kept free of imports: the CDK app imports submodules of this package (placeholders, template)
and must not pay for pandas, scikit-learn or xgboost.
"""
