"""Per-page state, kept by Gradio's session hash and dropped when the page goes. The cameras themselves live in the
service's registry; a page owns only its webcam and demo streams (closed with it) and what it shows."""
import threading
from dataclasses import dataclass, field

from stream.sources import PushSource


@dataclass
class PageState:
    current: str | None = None          # the camera the page shows and asks about
    focus: int | None = None            # a clip picked in the memory browser: the next question is about it
    webcam: PushSource | None = None    # where the browser's webcam frames go
    webcam_name: str | None = None
    last_push: float = 0.0              # monotonic time of the last webcam frame
    # Stop was pressed on the webcam's stream while the browser may still be sending: its frames are ignored until
    # it pauses for UIConfig.webcam_idle (its own stop), so the next frame does not undo the Stop.
    webcam_stopped: bool = False
    demo: str | None = None             # this page's demo camera, while it may run
    demo_variant: str = "primary"       # how the demo button was last drawn: secondary while the demo runs
    chats: dict = field(default_factory=dict)   # camera -> its chat history on this page
    shown_ids: list = field(default_factory=list)   # clip ids in the memory browser, in its order, as last drawn
    shown_key: tuple = ()               # (camera, clips) the memory browser was drawn for
    shown_names: tuple = ()             # cameras in the picker when it was last drawn
    shown_state: tuple = ()             # (camera, state) the status line was written for
    shown_feed: str = ""                # the alert feed's HTML as last sent: unchanged, it is not sent again (a
                                        # video playing in it would start over at each refresh)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)   # the timer and the webcam race


class Pages:
    """Lock-guarded: Gradio runs handlers of many pages on many threads."""

    def __init__(self):
        self._pages: dict[str, PageState] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> PageState:
        with self._lock:
            return self._pages.setdefault(key, PageState())

    def pop(self, key: str) -> PageState | None:
        with self._lock:
            return self._pages.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)
