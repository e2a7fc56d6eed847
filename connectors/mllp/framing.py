"""MLLP (Minimal Lower Layer Protocol, HL7 v2 over TCP) framing.

A frame is ``<VT> message <FS><CR>`` (0x0B ... 0x1C 0x0D). TCP delivers a byte stream, not frames, so the
decoder is fed whatever each read returned and hands back the complete frames:

- a frame split over several reads is put together; several frames in one read are all returned;
- bytes outside a frame (noise, keep-alive newlines) are skipped and counted in `discarded`;
- a start block inside a frame means the frame before it was cut off: it is dropped (counted in
  `discarded`) and the new frame begins;
- the FS ends the frame, the CR after it is expected but tolerated when missing;
- a frame larger than `max_frame_bytes` is not kept in memory: the decoder drops it as it arrives and,
  when its end comes, returns `Oversized` with the frame's first bytes, so the receiver can still name the
  message (MSH-10) in its rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

START_BLOCK: Final = b"\x0b"
END_BLOCK: Final = b"\x1c"
CARRIAGE_RETURN: Final = b"\x0d"
DEFAULT_MAX_FRAME_BYTES: Final = 1024 * 1024
HEAD_BYTES: Final = 4096  # how much of an oversized frame is kept to name it


def encode_frame(payload: bytes) -> bytes:
    """One MLLP frame around `payload` (which must not contain the block characters)."""
    if START_BLOCK in payload or END_BLOCK in payload:
        raise ValueError("an MLLP payload cannot contain the start (0x0B) or end (0x1C) block characters")
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    size: int  # bytes the frame had
    head: bytes  # its first HEAD_BYTES bytes


class MllpDecoder:
    """Turns a byte stream into MLLP frames; feed it every chunk read from the connection, in order."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self.discarded = 0  # bytes skipped outside frames, and of frames cut off by a new start block
        self._buffer = bytearray()
        self._inside = False
        self._oversized = 0  # > 0: in a frame that is too large; the bytes it had so far
        self._head = b""
        self._after_end = False  # the previous chunk ended with an end block: a CR may follow

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held (or, for an oversized one, counted) so far."""
        return self._oversized or len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | Oversized]:
        out: list[Frame | Oversized] = []
        view = memoryview(data)
        i = 0
        if self._after_end and data[:1] == CARRIAGE_RETURN:
            i = 1
        self._after_end = False
        while i < len(view):
            if not self._inside:
                start = data.find(START_BLOCK, i)
                if start < 0:
                    self.discarded += len(view) - i
                    return out
                self.discarded += start - i
                self._inside = True
                i = start + 1
                continue
            end = data.find(END_BLOCK, i)
            restart = data.find(START_BLOCK, i, end if end >= 0 else len(data))
            if restart >= 0:  # a new frame began before this one ended: this one was cut off
                self.discarded += self.pending + (restart - i)
                self._reset()
                i = restart  # the start block is read again, outside a frame
                continue
            stop = end if end >= 0 else len(data)
            self._take(view[i:stop])
            if end < 0:
                return out
            out.append(self._finish())
            i = end + 1
            if i < len(view):
                if data[i : i + 1] == CARRIAGE_RETURN:
                    i += 1
            else:
                self._after_end = True
        return out

    def _take(self, chunk: memoryview) -> None:
        if self._oversized:
            self._oversized += len(chunk)
            return
        if len(self._buffer) + len(chunk) > self.max_frame_bytes:
            self._buffer += chunk
            self._head = bytes(self._buffer[:HEAD_BYTES])
            self._oversized = len(self._buffer)
            self._buffer = bytearray()
            return
        self._buffer += chunk

    def _finish(self) -> Frame | Oversized:
        result: Frame | Oversized = (
            Oversized(self._oversized, self._head) if self._oversized else Frame(bytes(self._buffer))
        )
        self._reset()
        return result

    def _reset(self) -> None:
        self._buffer = bytearray()
        self._inside = False
        self._oversized = 0
        self._head = b""
