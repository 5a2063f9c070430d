"""When a draft that ended short is continued, and when lwz gives up on it.

A draft (a whole single pass, or one planned section) that ends below SHORT of
its target by end of sequence, a stop string or a loop the guard cut is
continued: its own text goes back to the model, which picks up the same turn.
Weak models often end again at once, or walk back into the same loop; a
continuation that adds nothing is therefore retried with another seed (the
draft's `resample`), and lwz gives up only after STALLS such tries in a row,
CONTINUATIONS in all, or when the token budget leaves no room, and says which.
A planned section is then asked for again, in a new user turn (`more_request`):
a chat model reads its own text fed back as a finished answer and ends at once,
but follows a request to go on.
"""

from __future__ import annotations

from dataclasses import dataclass

SHORT = 0.85  # a draft that ends below this share of its target is continued...
CONTINUATIONS = 6  # ...this many times at most...
STALLS = 2  # ...and no more after this many in a row that added no word
ROOM_TOKENS = 64  # a continuation needs at least this many tokens left
# a planned section whose continuations gave up is asked for again in a new user
# turn (a chat model takes its own text back as finished): this many times at most
ASKS = 2
# finish reasons a continuation can help: the model ended (or looped) on its own;
# the token limit ("length"), a word limit ("budget") or a cancel cannot be helped
ENDED = ("eos", "stop", "repetition")


@dataclass
class Continuing:
    """The continuations of one draft: how many, and whether the last one moved."""

    target: int
    count: int = 0  # continuations so far
    stalls: int = 0  # continuations in a row that added no word
    words_at_last: int = -1  # the draft's words when it was last continued
    gave_up: str = ""  # why lwz stopped continuing a short draft ("" while it has not)

    def short(self, words: int, reason: str) -> bool:
        return reason in ENDED and words < SHORT * self.target

    def next(self, words: int, reason: str, tokens_left: int) -> bool:
        """Whether to continue a draft that ended with `reason` at `words`; when a
        short draft is given up on, `gave_up` says why (for a warning)."""
        if not self.short(words, reason):
            return False
        if self.words_at_last >= 0:
            self.stalls = self.stalls + 1 if words <= self.words_at_last else 0
        if self.stalls >= STALLS:
            self.gave_up = f"{STALLS} continuations in a row added nothing"
        elif self.count >= CONTINUATIONS:
            self.gave_up = f"{CONTINUATIONS} continuations did not reach it"
        elif tokens_left <= ROOM_TOKENS:
            self.gave_up = "the token limit leaves no room to continue (raise --max-tokens)"
        else:
            self.count += 1
            self.words_at_last = words
            return True
        return False


def more_request(title: str, words: int, language: str, *, last: bool = False) -> str:
    """The user turn asking for the rest of section `title`: about `words` more (the
    last section may close the document, the others not)."""
    if language == "zh":
        end = "" if last else "，不要总结全文"
        return f"接着上文继续写“{title}”这一部分，再写约{words}字：不要重复前文，不要写标题{end}。"
    end = "" if last else " and without concluding the document"
    return (
        f'Go on with the section "{title}" from where it stops: about {words} more words '
        f"of flowing prose, without repeating what it says, without a heading{end}."
    )
