"""On a Hugging Face ZeroGPU Space, generation must run inside `spaces.GPU`; anywhere else
(no `spaces` package) functions are returned unchanged."""

GPU_SECONDS = 120


def on_gpu(fn):
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=GPU_SECONDS)(fn)
