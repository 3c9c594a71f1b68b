"""A worker process of several slots, in process: a fault in one slot's loop (not a command's
failure, which the slot records) stops the whole worker, so its supervisor starts it again
with every slot, rather than it going on with fewer."""

from jobs.worker.loop import Slot, Worker


def test_a_fault_in_one_slots_loop_stops_the_worker_and_marks_it_failed(
    transactional_db, monkeypatch
):
    looked = []

    def claim_task(slot):
        looked.append(slot.worker_id)
        if slot.worker_id == "w-s2":
            raise RuntimeError("a bug in the claim")
        return None  # nothing ready: with --once, the slot is done

    monkeypatch.setattr(Slot, "claim_task", claim_task)
    worker = Worker(worker_id="w", slots=2, once=True)
    worker.run()
    assert "w-s2" in looked  # (the first slot may have seen the stop before looking)
    assert worker.failed and worker.stopping


def test_one_slot_keeps_the_workers_own_id():
    assert Worker(worker_id="w").slot_ids() == ["w"]
    assert Worker(worker_id="w", slots=3).slot_ids() == ["w-s1", "w-s2", "w-s3"]
