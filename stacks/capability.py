"""The construct id every stack gives its capability's entry construct."""

# CDK leaves path components named "Default" out of logical IDs and construct addresses, so
# wrapping a stack's constructs in their capability's entry construct renamed, and so
# replaced, no deployed resource (a bucket, key or repository would otherwise be recreated).
CAPABILITY_ID = "Default"
