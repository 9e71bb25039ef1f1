"""arq workers: thin jobs that pass ids and re-read state when they run."""
