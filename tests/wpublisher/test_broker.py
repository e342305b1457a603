"""The embedded broker (wpublisher/broker.py): a message is never read half-written, a claimed message is
the claimer's alone, and nothing a late-acknowledging consumer held is lost when it dies, from single
operations on the folders up to producers and consumers in many processes on loaded cores, and a real
Celery worker killed with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport import virtual

from core.processes import process_label
from tests.conftest import agent_entry, site_entry
from tests.support.deployment import Deployment
from wpublisher.broker import Transport

QUEUE = "work"


@pytest.fixture
def options(tmp_path) -> dict:
    return {
        "data_folder": str(tmp_path / "broker" / "queue"),
        "unacked_folder": str(tmp_path / "broker" / "unacked"),
        "broken_folder": str(tmp_path / "broker" / "broken"),
        "tmp_folder": str(tmp_path / "broker" / "tmp"),
        "control_folder": str(tmp_path / "broker" / "control"),
        "polling_interval": 0.01,
    }


@pytest.fixture(autouse=True)
def _fresh_broker_state(monkeypatch) -> None:
    """Each test starts like a new process: no exchanges or bindings declared yet (the transport shares them
    between a process's connections, and writes a binding to the control folder once)."""
    monkeypatch.setattr(Transport, "global_state", virtual.BrokerState())


def connect(options: dict, **extra) -> Connection:
    """A connected connection: its first channel has made the folders and taken back orphaned claims."""
    conn = Connection(transport=Transport, transport_options={**options, **extra})
    conn.connect()
    return conn


def folder(options: dict, name: str) -> list[str]:
    return sorted(os.listdir(options[f"{name}_folder"]))


def publish(conn: Connection, *bodies: dict, queue: str = QUEUE) -> None:
    producer = Producer(conn.default_channel)
    for body in bodies:
        producer.publish(body, routing_key=queue, serializer="json")


def get(conn: Connection, queue: str = QUEUE, **kwargs):
    return Queue(queue, channel=conn.default_channel).get(accept=["json"], **kwargs)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def message_bytes(options: dict, body: dict) -> bytes:
    """The file a producer writes for `body`, taken out of the queue folder."""
    with connect(options) as conn:
        publish(conn, body)
    (name,) = folder(options, "data")
    path = Path(options["data_folder"]) / name
    data = path.read_bytes()
    path.unlink()
    return data


def stock_name(queue: str = QUEUE) -> str:
    """A name as kombu's filesystem transport writes it (monotonic milliseconds, uuid, queue)."""
    return f"{int(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"


# --- Half-written messages --------------------------------------------------------------------------------


def test_a_half_written_message_is_not_delivered_until_it_is_complete(options):
    data = message_bytes(options, {"n": 1})
    name = stock_name()
    path = Path(options["data_folder"]) / name
    with connect(options) as conn:
        path.write_bytes(b"")  # kombu's writer created the file and has not written yet
        assert get(conn) is None
        path.write_bytes(data[: len(data) // 2])  # ... and is halfway
        assert get(conn) is None
        assert folder(options, "data") == [name] and folder(options, "unacked") == []
        path.write_bytes(data)
        message = get(conn)
        assert message.payload == {"n": 1}
        message.ack()
    assert folder(options, "data") == folder(options, "unacked") == folder(options, "broken") == []


def test_a_half_written_message_does_not_hold_up_the_messages_behind_it(options):
    with connect(options) as conn:
        (Path(options["data_folder"]) / f"{0:020d}_{uuid.uuid4().hex}.{QUEUE}.msg").write_bytes(b'{"body": ')
        publish(conn, {"n": 2})
        assert get(conn).payload == {"n": 2}


def test_a_message_unreadable_for_a_minute_is_moved_to_broken_with_an_error(options, caplog):
    old, fresh = stock_name(), stock_name()
    data_folder = Path(options["data_folder"])
    with connect(options) as conn:
        (data_folder / old).write_bytes(b'{"body": "abc')
        (data_folder / fresh).write_bytes(b"")
        an_hour_ago = time.time() - 3600
        os.utime(data_folder / old, (an_hour_ago, an_hour_ago))
        with caplog.at_level(logging.ERROR, logger="wpublisher.broker"):
            assert get(conn) is None
    assert folder(options, "broken") == [old]
    assert folder(options, "data") == [fresh]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert old in record.getMessage() and "broken" in record.getMessage()


def test_a_complete_document_that_is_not_a_message_is_moved_to_broken_at_once(options, caplog):
    name = stock_name()
    with connect(options) as conn, caplog.at_level(logging.ERROR, logger="wpublisher.broker"):
        (Path(options["data_folder"]) / name).write_text(json.dumps({"hello": "world"}))
        assert get(conn) is None
    assert folder(options, "broken") == [name]
    assert name in caplog.text


# --- Putting ----------------------------------------------------------------------------------------------


def test_put_writes_a_temporary_file_fsyncs_it_and_renames_it_into_the_queue(options, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with connect(options) as conn:
        publish(conn, {"n": 1})
    (synced_path,) = synced
    assert Path(synced_path).parent == Path(options["tmp_folder"])
    assert folder(options, "tmp") == []
    (name,) = folder(options, "data")
    assert name.endswith(f".{QUEUE}.msg")


def test_a_reader_of_the_queue_folder_never_sees_a_partial_message(options):
    """Large messages put while the folder is read in a loop: every file seen parses."""
    body = {"blob": "x" * 512 * 1024}
    done = threading.Event()

    def produce() -> None:
        with connect(options) as conn:
            for _ in range(40):
                publish(conn, body)
        done.set()

    connect(options).close()  # the folders
    producer = threading.Thread(target=produce)
    producer.start()
    data_folder = Path(options["data_folder"])
    seen = 0
    while not done.is_set() or seen == 0:
        for name in os.listdir(data_folder):
            seen += 1
            json.loads((data_folder / name).read_bytes())  # raises on a partial file
    producer.join()
    assert seen > 0 and len(folder(options, "data")) == 40


def test_messages_are_delivered_oldest_first(options):
    with connect(options) as conn:
        publish(conn, *({"n": n} for n in range(5)))
        received = []
        for _ in range(5):
            message = get(conn)
            received.append(message.payload["n"])
            message.ack()
    assert received == [0, 1, 2, 3, 4]


# --- Claims: ack, reject, restore -------------------------------------------------------------------------


def test_a_delivered_message_is_claimed_in_unacked_under_the_consumer_s_name_and_ack_deletes_it(options):
    with connect(options) as conn:
        publish(conn, {"n": 1})
        message = get(conn)
        (claimed,) = folder(options, "unacked")
        assert claimed.endswith(f",{process_label()}")
        assert folder(options, "data") == []
        message.ack()
        assert folder(options, "unacked") == []


def test_reject_with_requeue_puts_it_back_in_its_place_as_redelivered(options):
    with connect(options) as conn:
        publish(conn, {"n": 1}, {"n": 2})
        first = get(conn)
        assert not first.delivery_info.get("redelivered")
        first.reject(requeue=True)
        assert folder(options, "unacked") == []
        again = get(conn)
        assert again.payload == {"n": 1} and again.delivery_info["redelivered"] is True
        again.reject(requeue=False)
        second = get(conn)
        assert second.payload == {"n": 2}
        second.ack()
    assert folder(options, "data") == folder(options, "unacked") == []


def test_unacknowledged_messages_go_back_to_their_queue_when_the_connection_closes(options):
    with connect(options) as conn:
        publish(conn, {"n": 1}, {"n": 2})
        get(conn)
        get(conn)
        assert len(folder(options, "unacked")) == 2
    assert folder(options, "unacked") == []
    with connect(options) as conn:
        first, second = get(conn), get(conn)
        assert [first.payload, second.payload] == [{"n": 1}, {"n": 2}]
        assert first.delivery_info["redelivered"] and second.delivery_info["redelivered"]


def test_a_message_of_a_no_ack_consumer_is_not_kept(options):
    with connect(options) as conn:
        publish(conn, {"n": 1})
        received = []
        with Consumer(conn, [Queue(QUEUE)], callbacks=[lambda body, m: received.append(body)], no_ack=True):
            conn.drain_events(timeout=5)
        assert received == [{"n": 1}]
        assert folder(options, "unacked") == folder(options, "data") == []


# --- Claims of dead processes -----------------------------------------------------------------------------


def claim_as(options: dict, owner: str, body: dict) -> str:
    """A message claimed by `owner` (host:pid), as that process's get would have left it."""
    with connect(options) as conn:
        publish(conn, body)
    (name,) = folder(options, "data")
    claimed = f"{name},{owner}"
    os.rename(Path(options["data_folder"]) / name, Path(options["unacked_folder"]) / claimed)
    return claimed


def test_claims_of_dead_processes_go_back_when_a_channel_starts_and_those_of_live_ones_stay(options):
    host = socket.gethostname()
    live = subprocess.Popen(["sleep", "60"])
    try:
        live_claim = claim_as(options, f"{host}:{live.pid}", {"n": "live"})
        other_host_claim = claim_as(options, f"elsewhere.example:{os.getpid()}", {"n": "other host"})
        dead_claim = claim_as(options, f"{host}:{dead_pid()}", {"n": "dead"})  # last: a channel start recovers
        with connect(options) as conn:
            conn.ensure_connection(max_retries=1)
            assert folder(options, "unacked") == sorted([live_claim, other_host_claim])
            (back,) = folder(options, "data")
            assert back.startswith(dead_claim.partition("_")[0]) and "_r1." in back
            message = get(conn)
            assert message.payload == {"n": "dead"} and message.delivery_info["redelivered"]
            message.ack()
    finally:
        live.kill()
        live.wait()


def test_a_polling_consumer_takes_back_claims_of_processes_that_died_meanwhile(options):
    with connect(options, recover_interval=0.2) as conn:
        received = []
        with Consumer(conn, [Queue(QUEUE)], callbacks=[lambda body, m: (received.append(body), m.ack())]):
            with pytest.raises(socket.timeout):
                conn.drain_events(timeout=0.3)
            claim_as(options, f"{socket.gethostname()}:{dead_pid()}", {"n": "orphan"})
            conn.drain_events(timeout=10)
        assert received == [{"n": "orphan"}]
    assert folder(options, "unacked") == folder(options, "data") == []


def test_temporary_files_of_dead_writers_are_removed(options):
    with connect(options):
        pass
    leftover = Path(options["tmp_folder"]) / f"{uuid.uuid4().hex},{socket.gethostname()}:{dead_pid()}"
    leftover.write_bytes(b"{")
    with connect(options) as conn:
        conn.ensure_connection(max_retries=1)
    assert folder(options, "tmp") == []


# --- Exchanges: direct and fanout across processes --------------------------------------------------------


def test_fanout_reaches_every_bound_queue_of_another_process(options, monkeypatch):
    exchange = Exchange("broadcast", type="fanout")
    with connect(options) as consumer_side:
        for name in ("a", "b"):
            Queue(name, exchange=exchange, channel=consumer_side.default_channel).declare()
    table = json.loads((Path(options["control_folder"]) / "broadcast.exchange").read_text())
    assert sorted(row[2] for row in table) == ["a", "b"]
    # Another process: it knows the bindings only from the control folder.
    monkeypatch.setattr(Transport, "global_state", virtual.BrokerState())
    with connect(options) as producer_side:
        Producer(producer_side.default_channel).publish({"hello": 1}, exchange=exchange, declare=[exchange])
        assert [get(producer_side, q).payload for q in ("a", "b")] == [{"hello": 1}, {"hello": 1}]


def test_deleting_a_queue_removes_its_binding(options):
    exchange = Exchange("broadcast", type="fanout")
    with connect(options) as conn:
        queues = [Queue(name, exchange=exchange, channel=conn.default_channel) for name in ("a", "b")]
        for queue in queues:
            queue.declare()
        queues[0].delete()
    table = json.loads((Path(options["control_folder"]) / "broadcast.exchange").read_text())
    assert [row[2] for row in table] == ["b"]


# --- Celery's connection ----------------------------------------------------------------------------------


def test_celery_s_embedded_broker_is_this_transport(settings):
    if settings.REDIS_URL:
        pytest.skip("the broker is Redis")
    from wpublisher.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        assert isinstance(conn.transport, Transport)
        assert conn.default_channel.data_folder == settings.BROKER_DIR / "queue"


# --- Many processes under load ----------------------------------------------------------------------------


def _burn(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def _produce(transport, options: dict, index: int, count: int) -> None:
    queue = Queue("stress")
    with Connection(transport=transport, transport_options=options) as conn:
        producer = Producer(conn.default_channel)
        for seq in range(count):
            producer.publish(
                {"p": index, "s": seq},
                exchange=queue.exchange,
                routing_key="stress",
                declare=[queue],
                serializer="json",
            )


def _consume(transport, options: dict, records: str, stop, hold: bool) -> None:
    """Records every message it receives; acknowledges them, unless it is the one that holds (and gets
    killed)."""
    with open(records, "a") as out, Connection(transport=transport, transport_options=options) as conn:

        def on_message(body: dict, message) -> None:
            out.write(f"{body['p']}:{body['s']}:{int(bool(message.delivery_info.get('redelivered')))}\n")
            out.flush()
            if not hold:
                message.ack()

        with Consumer(
            conn, [Queue("stress")], callbacks=[on_message], accept=["json"], prefetch_count=50 if hold else 1
        ):
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.2)


def run_stress(
    directory: Path,
    transport,
    options: dict,
    *,
    producers: int = 4,
    consumers: int = 3,
    burners: int = 2,
    per_producer: int = 1000,
    timeout: float = 240,
) -> dict:
    """Producers and consumers in processes beside CPU burners, one extra consumer holding messages
    unacknowledged until it is killed with SIGKILL; returns what the live consumers received. `transport`
    may be any kombu transport (kombu's "filesystem" was compared by hand)."""
    # fork: the children need nothing of Django, which a spawned child would import with this module.
    context = multiprocessing.get_context("fork")
    stop, stop_burning = context.Event(), context.Event()
    burning = [context.Process(target=_burn, args=(stop_burning,)) for _ in range(burners)]
    records = [directory / f"consumer-{i}.txt" for i in range(consumers)]
    victim_records = directory / "victim.txt"
    for path in [*records, victim_records]:
        path.touch()
    live = [context.Process(target=_consume, args=(transport, options, str(r), stop, False)) for r in records]
    victim = context.Process(target=_consume, args=(transport, options, str(victim_records), stop, True))
    making = [context.Process(target=_produce, args=(transport, options, i, per_producer)) for i in range(producers)]
    started = time.monotonic()
    report: dict = {}
    try:
        for process in [*burning, victim, *live]:
            process.start()
        time.sleep(2)  # consumers bound their queue
        for process in making:
            process.start()
        deadline = time.monotonic() + timeout
        while len(victim_records.read_text().splitlines()) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        report["victim_held"] = len(victim_records.read_text().splitlines())
        for process in making:
            process.join(max(1, deadline - time.monotonic()))
        report["producer_exitcodes"] = [p.exitcode for p in making]

        def delivered() -> int:
            return sum(len(r.read_text().splitlines()) for r in records)

        expected = producers * per_producer
        while time.monotonic() < deadline and delivered() < expected and any(p.is_alive() for p in live):
            time.sleep(0.2)
        time.sleep(1)  # anything delivered twice would show now
    finally:
        stop.set()
        stop_burning.set()
        for process in [*live, *burning]:
            process.join(20)
            if process.is_alive():
                process.kill()
                process.join()
        for process in [victim, *making]:
            if process.is_alive():
                process.kill()
                process.join()
    report["seconds"] = round(time.monotonic() - started, 1)
    report["consumer_exitcodes"] = [p.exitcode for p in live]
    lines = [line for r in records for line in r.read_text().splitlines()]
    report["deliveries"] = Counter(line.rsplit(":", 1)[0] for line in lines)
    report["redelivered"] = sum(line.endswith(":1") for line in lines)
    report["expected"] = {f"{p}:{s}" for p in range(producers) for s in range(per_producer)}
    return report


@pytest.mark.slow
def test_many_producers_and_consumers_on_loaded_cores_deliver_every_message_exactly_once(tmp_path, options):
    options = {**options, "polling_interval": 0.02, "recover_interval": 0.5}
    report = run_stress(tmp_path, Transport, options)
    assert report["producer_exitcodes"] == [0, 0, 0, 0]
    assert report["consumer_exitcodes"] == [0, 0, 0]
    deliveries = report["deliveries"]
    assert set(deliveries) == report["expected"], "lost messages: " + str(len(report["expected"] - set(deliveries)))
    assert {count for count in deliveries.values()} == {1}, "delivered twice"
    # The killed consumer's messages came back, marked as delivered before.
    assert report["victim_held"] >= 20 and report["redelivered"] >= report["victim_held"]
    assert folder(options, "data") == folder(options, "unacked") == folder(options, "broken") == []
    assert folder(options, "tmp") == []


# --- A real Celery worker ---------------------------------------------------------------------------------

RECORDING_TASK = """
import pathlib, time
from wpublisher.celery import app
@app.task(name="tests.broker_record")
def broker_record(path):
    {body}
"""


@pytest.mark.slow
def test_a_worker_killed_with_sigkill_loses_no_late_acknowledged_message(tmp_path):
    if os.environ.get("REDIS_URL"):
        pytest.skip("the embedded broker is not used with Redis")
    deployment = Deployment(tmp_path, agents=[agent_entry("writer")], sites=[site_entry("s1")])
    unacked = tmp_path / "data" / "broker" / "unacked"
    running, waiting = tmp_path / "running", tmp_path / "waiting"
    try:
        # The first worker starts the task and never finishes it; it holds the countdown task for later.
        stuck = "pathlib.Path(path + '.started').write_text('x'); time.sleep(600)"
        first = deployment.start_worker(concurrency=1, preload=RECORDING_TASK.format(body=stuck))
        send = "from wpublisher.celery import app\napp.send_task('tests.broker_record', args=[{!r}], countdown={})"
        deployment.run(send.format(str(waiting), 15))
        deployment.run(send.format(str(running), 0))
        deployment.wait_for(lambda: Path(f"{running}.started").exists(), 60, "the first worker to start the task")
        deployment.wait_for(lambda: len(os.listdir(unacked)) == 2, 30, "the first worker to hold both messages")
        assert all(name.endswith(f":{first.pid}") for name in os.listdir(unacked))

        os.kill(first.pid, signal.SIGKILL)  # the main process, which holds the messages
        first.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)  # its orphaned pool process
        assert len(os.listdir(unacked)) == 2 and not Path(f"{waiting}.started").exists()

        done = "pathlib.Path(path).write_text('done')"
        deployment.start_worker(concurrency=1, preload=RECORDING_TASK.format(body=done))
        deployment.wait_for(lambda: running.exists() and waiting.exists(), 120, "the new worker to run both tasks")
        deployment.wait_for(lambda: not os.listdir(unacked), 30, "the new worker to acknowledge both")
        assert deployment.worker_log(1).count("tests.broker_record[") >= 4  # received and succeeded, twice
        assert "Unrecoverable error" not in deployment.worker_log(1)
    finally:
        deployment.close()
