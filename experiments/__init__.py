"""Studies of the method on real models: the prompt study, the gallery recordings, their report."""
