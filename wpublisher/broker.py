"""The embedded Celery broker: a kombu virtual transport that keeps messages in files of the data directory.

kombu's own filesystem transport creates a message file and then writes it, and its reader moves and reads
the file without the writer's lock: a worker could read an empty file and die of a JSONDecodeError. It also
takes a message out of the folder when it delivers it and keeps unacknowledged messages only in the worker's
memory, so a worker killed with SIGKILL lost the late-acknowledged task it held. This transport keeps the
same kind of folder (messages of any queue are files named `<order>_<id>.<queue>.msg`, oldest first) and
closes both holes:

- A message is written under `tmp/`, fsynced, then renamed into the queue folder: a reader sees it whole or
  not at all.
- A consumer claims a message by renaming it into `unacked/`, under a name that records its process
  (`host:pid`). One rename: two consumers never get the same message, and the claim outlives the process.
- Ack deletes the claimed file. Reject with requeue, and kombu's restore of unacknowledged messages when a
  channel closes, rename it back to its place in the queue, its deliveries counted in its name (a message
  delivered again says so: `delivery_info["redelivered"]`).
- Claims of processes that are no longer running go back to their queues when a channel starts and every
  few seconds from a consumer's poll: a killed worker loses nothing once any worker runs. Claims of live
  processes stay (a worker holds ETA/countdown tasks unacknowledged until they are due).
- A file that does not parse (a message an old-style writer is still writing) is left where it is, and
  moved to `broken/` with an ERROR if it still does not parse a minute after it was last written.
- Bindings (the exchange tables that fanout/broadcast needs across processes) are files in the control
  folder, replaced whole under a lock, so a reader never sees half a table either.

Claims are recognised by process on this host only: the folders must not be shared between machines (the
multi-machine setup uses Redis), and rename must be atomic (a local filesystem, not NFS).

Transport options: `data_folder` (the queue), `unacked_folder`, `broken_folder`, `tmp_folder` (by default
beside the queue folder), `control_folder`, `polling_interval`, `broken_after` (seconds, 60) and
`recover_interval` (seconds, 5).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
import uuid
from collections import defaultdict, deque, namedtuple
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any
from urllib.parse import quote, unquote

from kombu.exceptions import ChannelError
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from core.processes import process_is_dead, process_label

logger = logging.getLogger(__name__)

MESSAGE_SUFFIX = ".msg"
#: Where a delivered message's payload remembers the file it was claimed as (kombu keeps the payload as
#: the message's `_raw`; `Message.serializable()` leaves this key out).
CLAIM_KEY = "x-wpublisher-claim"
#: Separates a claimed message's name from its owner, and a temporary file's id from its writer; quote()
#: escapes it in queue names and process labels.
OWNER_SEPARATOR = ","
#: A message's name gains `_r<n>` when it is put back for the n-th time.
REDELIVERIES = re.compile(r"_r(\d+)\Z")
#: A listing with messages of the polled queue is reused for this long (claims of names that another
#: consumer took meanwhile simply fail); an empty one only within one poll round.
LISTING_MAX_AGE = 1.0
#: A row of an exchange table, as kombu's filesystem transport stores it (so both can read the other's).
exchange_queue_t = namedtuple("exchange_queue_t", ["routing_key", "pattern", "queue"])
EXCHANGE_NAME = re.compile(r"\A[A-Za-z0-9@._-]*\Z")
TABLE_READ_ATTEMPTS = 5


def _quote(name: str) -> str:
    """A queue name or process label as part of a file name: no separators, nothing that leaves the folder."""
    return quote(name, safe="@:")


def message_name(queue: str) -> str:
    """A new message's file name: wall-clock nanoseconds first, so that names sort oldest first across
    processes (and across restarts, unlike kombu's monotonic milliseconds)."""
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.{_quote(queue)}{MESSAGE_SUFFIX}"


def redeliveries(name: str) -> int:
    """How many times the message of this file name was put back after a delivery."""
    match = REDELIVERIES.search(name.partition(".")[0])
    return int(match.group(1)) if match else 0


def redelivered_name(name: str) -> str:
    """The same message one delivery later: the order part is kept, so it goes back to its place."""
    stem, _, rest = name.partition(".")
    count = redeliveries(name)
    stem = REDELIVERIES.sub("", stem)
    return f"{stem}_r{count + 1}.{rest}"


def _is_message(payload: Any) -> bool:
    """Whether a parsed file has what kombu's virtual Message needs: anything else would raise inside the
    consumer's callback, where it would stop the worker."""
    if not isinstance(payload, dict):
        return False
    properties = payload.get("properties")
    return (
        isinstance(properties, dict)
        and "delivery_tag" in properties
        and isinstance(properties.get("delivery_info", {}), dict)
    )


class QoS(virtual.QoS):
    """kombu's prefetch accounting, with the claimed file settled on ack and reject (as the Redis
    transport's QoS settles its unacked hash). Restoring goes through Channel._restore, which renames the
    claimed file back instead of writing the payload again."""

    def ack(self, delivery_tag: str) -> None:
        self._settle(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not requeue:
            self._settle(delivery_tag)
        super().reject(delivery_tag, requeue=requeue)

    def _settle(self, delivery_tag: str) -> None:
        message = self._delivered.get(delivery_tag)
        if message is not None:
            self.channel.claim_release(message._raw)


class Channel(virtual.Channel):
    """One consumer's or producer's view of the folders."""

    QoS = QoS
    supports_fanout = True

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.data_folder = Path(options.get("data_folder", "broker/queue"))
        beside = self.data_folder.parent
        self.unacked_folder = Path(options.get("unacked_folder", beside / "unacked"))
        self.broken_folder = Path(options.get("broken_folder", beside / "broken"))
        self.tmp_folder = Path(options.get("tmp_folder", beside / "tmp"))
        self.control_folder = Path(options.get("control_folder", beside / "control"))
        self.broken_after = float(options.get("broken_after", 60.0))
        self.recover_interval = float(options.get("recover_interval", 5.0))
        for folder in (self.data_folder, self.unacked_folder, self.broken_folder, self.tmp_folder, self.control_folder):
            folder.mkdir(parents=True, exist_ok=True)
        # Queues consumed without acknowledgement (Celery's remote-control mailbox): their messages are
        # deleted on delivery, as nothing would ever ack them.
        self._no_ack_queues: set[str] = set()
        # Message names per (quoted) queue, oldest first, from the last listing of the queue folder.
        self._listing: dict[str, deque[str]] = {}
        self._listed_at = float("-inf")
        self._round_started = 0.0
        self._next_recovery = 0.0
        self.recover_orphans()

    # --- Producing ----------------------------------------------------------------------------------------

    def _put(self, queue: str, message: dict, **kwargs: Any) -> None:
        """Write the message where no reader looks, make it durable, then rename it into the queue."""
        payload = {key: value for key, value in message.items() if key != CLAIM_KEY}
        name = message_name(queue)
        data = str_to_bytes(dumps(payload))
        temporary = self.tmp_folder / f"{uuid.uuid4().hex}{OWNER_SEPARATOR}{_quote(process_label())}"
        try:
            with open(temporary, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.rename(temporary, self.data_folder / name)
        except OSError as exc:
            with suppress(OSError):
                temporary.unlink()
            raise ChannelError(f"Cannot add message {name!r} to {self.data_folder}") from exc
        self._listed_at = float("-inf")

    def _put_fanout(self, exchange: str, payload: dict, routing_key: str, **kwargs: Any) -> None:
        for binding in self.get_table(exchange):
            self._put(binding.queue, payload, **kwargs)

    # --- Consuming ----------------------------------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if no_ack:
            self._no_ack_queues.add(queue)
        else:
            self._no_ack_queues.discard(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue not in self._active_queues:
            self._no_ack_queues.discard(queue)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        self._round_started = monotonic()
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self.claim_release(message._raw)
        return message

    def _poll(self, cycle: Any, callback: Any, timeout: float | None = None) -> Any:
        # One listing of the folder serves every queue of this round (kombu polls the queues one by one).
        self._round_started = monotonic()
        return super()._poll(cycle, callback, timeout=timeout)

    def _get(self, queue: str, timeout: float | None = None) -> dict:
        """Claim the oldest readable message of `queue`: rename it into unacked/ under this process's name."""
        now = monotonic()
        if now >= self._next_recovery:
            self.recover_orphans()
        pending = self._pending(queue, now)
        owner = _quote(process_label()) if pending else ""
        while pending:
            name = pending.popleft()
            claimed = f"{name}{OWNER_SEPARATOR}{owner}"
            try:
                os.rename(self.data_folder / name, self.unacked_folder / claimed)
            except FileNotFoundError:
                if not self.unacked_folder.is_dir():
                    raise ChannelError(f"The broker folder {self.unacked_folder} is gone") from None
                continue  # another consumer took it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim message {name!r} of {self.data_folder}") from exc
            payload = self._read_claimed(name, claimed)
            if payload is None:
                continue
            if redeliveries(name):
                payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
            if queue in self._no_ack_queues:
                self._unlink_claim(claimed)
            else:
                payload[CLAIM_KEY] = claimed
            return payload
        raise Empty()

    def _pending(self, queue: str, now: float) -> deque[str]:
        """This queue's messages from a listing of the folder, listed again when it may miss some."""
        key = _quote(queue)
        pending = self._listing.get(key)
        stale = self._listed_at < self._round_started if not pending else now - self._listed_at > LISTING_MAX_AGE
        if stale:
            self._listing = self._list_queues()
            self._listed_at = now
            pending = self._listing.get(key)
        return pending if pending is not None else deque()

    def _list_queues(self) -> dict[str, deque[str]]:
        by_queue: dict[str, list[str]] = defaultdict(list)
        for name in os.listdir(self.data_folder):
            if name.endswith(MESSAGE_SUFFIX):
                by_queue[name.partition(".")[2][: -len(MESSAGE_SUFFIX)]].append(name)
        return {queue: deque(sorted(names)) for queue, names in by_queue.items()}

    def _read_claimed(self, name: str, claimed: str) -> dict | None:
        """The claimed message, or None when it cannot be read yet (put back) or ever (moved to broken/)."""
        path = self.unacked_folder / claimed
        try:
            payload = loads(bytes_to_str(path.read_bytes()))
        except Exception as exc:  # a half-written file: JSON, UTF-8 or kombu's type hooks may fail alike
            self._set_aside(name, claimed, exc)
            return None
        if not _is_message(payload):
            self._move_to_broken(name, claimed, "a JSON document that is not a kombu message")
            return None
        return payload

    def _set_aside(self, name: str, claimed: str, error: Exception) -> None:
        """An unreadable message goes back to its place, unless it has not changed for `broken_after`: an
        old-style writer (kombu's filesystem transport) creates the file before it writes it."""
        path = self.unacked_folder / claimed
        try:
            idle = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return
        if idle >= self.broken_after:
            self._move_to_broken(name, claimed, f"unreadable for {idle:.0f} s ({type(error).__name__}: {error})")
            return
        logger.debug("Broker message %s is not readable yet (%s); left in the queue", name, error)
        with suppress(FileNotFoundError):
            os.rename(path, self.data_folder / name)

    def _move_to_broken(self, name: str, claimed: str, reason: str) -> None:
        target = self.broken_folder / name
        with suppress(FileNotFoundError):
            os.rename(self.unacked_folder / claimed, target)
            logger.error("Broker message %s is %s; moved to %s", name, reason, target)

    # --- Settling -----------------------------------------------------------------------------------------

    def claim_release(self, raw: dict) -> None:
        """The message was acknowledged (or rejected for good): its claimed file goes."""
        claimed = raw.pop(CLAIM_KEY, None)
        if claimed is not None:
            self._unlink_claim(claimed)

    def _unlink_claim(self, claimed: str) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.unacked_folder / claimed)

    def _restore(self, message: Any) -> None:
        """kombu puts an unacknowledged message back by publishing its payload again; a claimed one is
        renamed back to its place instead (nothing written, nothing that could be lost or doubled)."""
        raw = getattr(message, "_raw", None)
        claimed = raw.pop(CLAIM_KEY, None) if isinstance(raw, dict) else None
        if claimed is None:
            super()._restore(message)
        else:
            self.claim_requeue(claimed)

    def claim_requeue(self, claimed: str) -> bool:
        """Move a claimed message back into its queue, counting the delivery. False if it was gone."""
        name = claimed.rpartition(OWNER_SEPARATOR)[0]
        try:
            os.rename(self.unacked_folder / claimed, self.data_folder / redelivered_name(name))
        except FileNotFoundError:
            return False
        self._listed_at = float("-inf")
        return True

    def recover_orphans(self) -> int:
        """Put back the messages claimed by processes that are no longer running, and drop their
        temporary files (messages never published). Returns how many messages went back."""
        self._next_recovery = monotonic() + self.recover_interval
        dead: dict[str, bool] = {}

        def owner_dead(owner: str) -> bool:
            if owner not in dead:
                dead[owner] = process_is_dead(unquote(owner))
            return dead[owner]

        recovered = 0
        for claimed in _list(self.unacked_folder):
            name, separator, owner = claimed.rpartition(OWNER_SEPARATOR)
            if separator and owner_dead(owner) and self.claim_requeue(claimed):
                recovered += 1
                logger.warning("Broker message %s was held by %s, which is gone; back in its queue", name, owner)
        for temporary in _list(self.tmp_folder):
            _, separator, owner = temporary.rpartition(OWNER_SEPARATOR)
            if separator and owner_dead(owner):
                with suppress(FileNotFoundError):
                    os.unlink(self.tmp_folder / temporary)
        return recovered

    # --- Queues -------------------------------------------------------------------------------------------

    def _queue_files(self, queue: str) -> list[str]:
        suffix = f"{_quote(queue)}{MESSAGE_SUFFIX}"
        return [name for name in os.listdir(self.data_folder) if name.partition(".")[2] == suffix]

    def _size(self, queue: str) -> int:
        return len(self._queue_files(queue))

    def _purge(self, queue: str) -> int:
        count = 0
        for name in self._queue_files(queue):
            with suppress(FileNotFoundError):
                os.unlink(self.data_folder / name)
                count += 1
        return count

    # --- Bindings (exchange tables in the control folder) -------------------------------------------------

    def _exchange_file(self, exchange: str) -> Path:
        if not isinstance(exchange, str) or not EXCHANGE_NAME.match(exchange) or (exchange and not exchange.strip(".")):
            raise ChannelError(f"Invalid exchange name: {exchange!r}")
        return self.control_folder / f"{exchange}.exchange"

    def get_table(self, exchange: str) -> list[exchange_queue_t]:
        """The bindings of `exchange`, as every process sees them (kombu's format, compatible with its
        filesystem transport)."""
        return self._read_table(self._exchange_file(exchange))

    def _read_table(self, file: Path) -> list[exchange_queue_t]:
        # Tables are replaced whole, so a read cannot see half of one; a retry covers a table that kombu's
        # own transport (during an upgrade) is writing in place.
        for attempt in range(TABLE_READ_ATTEMPTS):
            try:
                text = file.read_bytes()
            except FileNotFoundError:
                return []
            except OSError as exc:
                raise ChannelError(f"Cannot read {file}") from exc
            if not text:
                return []
            try:
                return [exchange_queue_t(*row) for row in loads(bytes_to_str(text))]
            except (ValueError, TypeError):
                time.sleep(0.01 * (attempt + 1))
        raise ChannelError(f"Cannot parse the exchange table {file}")

    @contextmanager
    def _table_locked(self, exchange: str) -> Iterator[Path]:
        file = self._exchange_file(exchange)
        with open(self.control_folder / f".{file.name}.lock", "ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _write_table(self, file: Path, rows: list[exchange_queue_t]) -> None:
        temporary = self.tmp_folder / f"{uuid.uuid4().hex}{OWNER_SEPARATOR}{_quote(process_label())}"
        try:
            with open(temporary, "xb") as out:
                out.write(str_to_bytes(dumps([list(row) for row in rows])))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, file)
        except OSError as exc:
            with suppress(OSError):
                temporary.unlink()
            raise ChannelError(f"Cannot write the exchange table {file}") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        row = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_locked(exchange) as file:
            rows = self._read_table(file)
            if row not in rows:
                rows.insert(0, row)
                self._write_table(file, rows)

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        super()._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        row = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_locked(exchange) as file:
            rows = self._read_table(file)
            if row in rows:
                rows.remove(row)
                self._write_table(file, rows)


def _list(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


class Transport(virtual.Transport):
    """The embedded broker's transport (CELERY_BROKER_TRANSPORT = "wpublisher.broker:Transport")."""

    Channel = Channel
    # Exchanges and bindings declared in this process are shared by its connections, as with kombu's
    # filesystem transport; other processes see the bindings through the control folder.
    global_state = virtual.BrokerState()
    implements = virtual.Transport.implements.extend(
        asynchronous=False,
        exchange_type=frozenset(["direct", "topic", "fanout"]),
    )
    default_port = 0  # type: ignore[assignment]  # kombu types it None; a broker without a host has port 0
    # Celery keys features on the driver type (gossip, mingle, native delayed delivery); a filesystem
    # broker has none of them, like kombu's.
    driver_type = "filesystem"
    driver_name = "wpublisher-filesystem"

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.state = self.global_state

    def driver_version(self) -> str:
        return "1"
