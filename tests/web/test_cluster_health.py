"""The distributed mode's summary line and problems, from health reports as the processes put them."""

from __future__ import annotations

from reidcam.web.cluster_health import assess

WORKER = {
    "cameras": ["cam0"],
    "publisher": {"queued": 0, "dropped": 0, "last_error": None},
    "refused_cameras": {},
}
MEMORY = {"role": "active", "stored": 10, "failed": 0, "rejected": 0, "last_rejection": None}


def test_all_well_is_one_line_and_no_problem() -> None:
    seen = assess({"w1": WORKER, "w2": {**WORKER, "cameras": ["cam1"]}}, {"m1": MEMORY}, ["cam0", "cam1"])
    assert seen.summary == "2 workers · 2/2 cameras · memory m1 active"
    assert seen.problems == []


def test_missing_processes_are_said_with_what_to_start() -> None:
    seen = assess({}, {}, ["cam0"])
    assert seen.summary == "0 workers · 0/1 cameras · no active memory"
    assert any("no worker is running" in p and "reidcam worker" in p for p in seen.problems)
    assert any("no memory service is running" in p and "reidcam memory" in p for p in seen.problems)
    standby = assess({"w1": WORKER}, {"m2": {**MEMORY, "role": "standby"}}, ["cam0"])
    assert standby.problems == ["no memory service is active yet (m2 standby)"]


def test_lost_data_and_refusals_are_problems() -> None:
    worker = {
        "cameras": ["cam0"],
        "publisher": {"queued": 3, "dropped": 7, "last_error": "nats: timeout"},
        "refused_cameras": {"cam9": "registry camera 'cam9': unset variable GATE_PW"},
    }
    memory = {**MEMORY, "failed": 2, "rejected": 1, "last_rejection": "embedded by model x, this memory is y"}
    seen = assess({"w1": worker}, {"m1": memory}, ["cam0", "cam9"])
    assert seen.problems == [
        "worker w1 dropped 7 closed sightings while the broker was away (its buffer was full: "
        "broker.buffer_max_sightings)",
        "worker w1: 3 sightings waiting to be sent (nats: timeout)",
        "worker w1 cannot run camera cam9: registry camera 'cam9': unset variable GATE_PW",
        "no worker runs 1 camera yet: cam9",
        "memory m1 could not store 2 sightings and dropped them",
        "memory m1 refused 1 sighting (last: embedded by model x, this memory is y)",
    ]


def test_odd_reports_do_not_break_it() -> None:
    seen = assess(
        {"w1": {"cameras": "cam0", "publisher": None}}, {"m1": {"role": "active", "failed": True}}, []
    )
    assert seen.summary == "1 worker · 0/0 cameras · memory m1 active" and seen.problems == []


def test_cameras_left_over_because_every_worker_is_full_say_so() -> None:
    full = {**WORKER, "max_cameras": 1}
    seen = assess({"w1": full}, {"m1": MEMORY}, ["cam0", "cam1"])
    assert seen.problems == [
        "no worker runs 1 camera yet: cam1 "
        "(every worker runs as many as its --max-cameras allows: start another)"
    ]
    room = assess({"w1": {**WORKER, "max_cameras": 2}}, {"m1": MEMORY}, ["cam0", "cam1"])
    assert room.problems == ["no worker runs 1 camera yet: cam1"]  # a lease still to come
