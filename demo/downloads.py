"""A page's downloads: files in a temporary folder of its own, the latest ones only.

The run tab's Session and the Evaluation tab each hold one `Downloads` (folders named
"hogwild-session-*" and "hogwild-eval-*"), so two tabs never remove each other's files. The
folder is made on first use and removed when the page's state is dropped (gr.State's
delete_callback, `close_downloads`). Nothing here imports gradio."""

import os
import shutil
import tempfile


class Downloads:
    """The files one page offers to download: `clear` before writing the next set, `close` at the end."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.folder: str | None = None

    def path(self, name: str) -> str:
        """Where to write the file `name` (the folder is made on first use)."""
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix=self.prefix)
        return os.path.join(self.folder, name)

    def clear(self) -> None:
        """Remove the files written so far: a page holds one set at most. (Gradio serves copies
        from its own cache, so links already shown still work.)"""
        if self.folder:
            for name in os.listdir(self.folder):
                os.remove(os.path.join(self.folder, name))

    def close(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def close_downloads(downloads) -> None:
    """gr.State delete_callback for a tab whose state is a Downloads."""
    if isinstance(downloads, Downloads):
        downloads.close()
