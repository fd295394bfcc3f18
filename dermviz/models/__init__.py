"""Model suites: InceptionV3 members, training, saving and loading."""
