"""Reading what the workers wrote: final answers (`answers`) and collaboration metrics
(`metrics`). Pure text functions, no model and no tensor; the demo, the evaluation and the
experiments import them, the engine does not."""
