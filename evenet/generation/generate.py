"""One generation shard: Pythia → detector → truth → matching → ROOT ntuple."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from evenet import SCHEMA_VERSION
from evenet.catalogue import Process
from evenet.generation.detector import Detector, RecoObjects
from evenet.generation.filters import event_filter as generator_filter
from evenet.generation.matching import JET_PARTON_IDS, leaf_partons, match
from evenet.generation.ntuple import NtupleWriter, atomic_root_file, collection
from evenet.generation.particles import FlatParticles, flatten_batch
from evenet.generation.progress import Progress
from evenet.generation.pythia_driver import GenerationError, build_pythia
from evenet.generation.truth import hard_process
from evenet.generation.weights import forced_decay_factor, nominal_weights

# Events buffered before a TTree basket is written. uproot spends ~0.5 ms of Python per basket
# when reading, so 2000-event baskets cost `evenet convert` half its time on 5k-event shards;
# 25k events (a few MB of arrays) make the local profile's shards one basket per branch.
FLUSH_EVENTS = 25_000
# Independent stream for detector smearing, so Pythia's stream is untouched by it.
_DETECTOR_STREAM = 0x5EED


@dataclass
class ShardSummary:
    output: Path
    events: int
    seconds: float
    init_seconds: float  # Pythia initialisation, part of ``seconds``
    pythia_seconds: float  # inside Pythia's event loop (nextBatch, hooks), part of ``seconds``
    xsec_pb: float
    xsec_err_pb: float
    sum_weights: float


def event_arrays(flat: FlatParticles, reco: RecoObjects, process: Process, matching: dict) -> dict:
    """All per-event branches of one batch (without run/event/process/weight/seed)."""
    n = flat.n_events
    gen = hard_process(flat, process.truth_pdg_ids)
    gen_event = gen["_event"]
    gen_offsets = np.concatenate([[0], np.cumsum(np.bincount(gen_event, minlength=n))])
    gen_local = np.arange(len(gen_event)) - gen_offsets[gen_event]
    leaf = leaf_partons(gen["genPartIdxMother"], gen_event)
    abs_pdg = np.abs(gen["pdgId"])

    def matched(obj, allowed, max_dr):
        return match(
            obj["_event"],
            obj["eta"],
            obj["phi"],
            gen_event,
            gen["eta"],
            gen["phi"],
            allowed,
            gen_local,
            n,
            max_dr,
        )

    jets = dict(reco.jets)
    jets["genPartIdx"] = matched(
        jets, leaf & np.isin(abs_pdg, JET_PARTON_IDS), matching["jet_max_dr"]
    )
    arrays = {"Jet": collection(jets, jets["_event"], n, "Jet")}
    for name, pdg, iso_name in (("Muon", 13, "pfRelIso04_all"), ("Electron", 11, "pfRelIso03_all")):
        obj = dict(reco.leptons[name])
        obj[iso_name] = obj["iso"]
        obj["genPartIdx"] = matched(obj, abs_pdg == pdg, matching["lepton_max_dr"])
        arrays[name] = collection(obj, obj["_event"], n, name)
    arrays["MET_pt"] = reco.met_pt.astype(np.float32)
    arrays["MET_phi"] = reco.met_phi.astype(np.float32)
    arrays["GenPart"] = collection(gen, gen_event, n, "GenPart")
    return arrays


def generate_shard(
    process: Process,
    n_events: int,
    seed: int,
    output: str | Path,
    config: dict,
    lhe: str | Path | None = None,
    progress: bool = True,
) -> ShardSummary:
    """Generate ``n_events`` (fewer if an LHE file ends first) into ``output``; with the
    process's generator filter, ``n_events`` are tried and those passing are written."""
    output = Path(output)
    gen_cfg, det_cfg = config["generation"], config["detector"]
    start = time.perf_counter()
    run = build_pythia(process, seed, gen_cfg["pythia_settings"], lhe=lhe)
    init_seconds = time.perf_counter() - start
    detector = Detector(det_cfg, np.random.default_rng([_DETECTOR_STREAM, seed]))
    meter = Progress(process.name, n_events, enabled=progress)
    event_filter = generator_filter(process)
    # done: events written; tried: events Pythia produced (the filter keeps ``done`` of them).
    done, tried, sum_w, sum_w2, sum_nominal, sum_tried = 0, 0, 0.0, 0.0, 0.0, 0.0
    with atomic_root_file(output) as file:
        writer = NtupleWriter(file)
        pending: list[dict] = []
        pending_events = 0
        batches = run.batches(n_events, gen_cfg["batch_size"])
        pythia_seconds = 0.0
        while True:
            tick = time.perf_counter()
            batch = next(batches, None)
            pythia_seconds += time.perf_counter() - tick
            if batch is None:
                break
            nominal = nominal_weights(batch)
            event_ids = np.arange(tried, tried + len(batch), dtype=np.int64)
            tried += len(batch)
            sum_tried += float(nominal.sum())
            if event_filter is not None:
                keep = event_filter.passes(batch)
                batch, nominal, event_ids = batch[keep], nominal[keep], event_ids[keep]
                meter.update(tried)
                if not len(batch):
                    continue
            flat = flatten_batch(batch)
            weight = nominal * forced_decay_factor(flat, run.forced_fractions)
            count = len(weight)
            arrays = {
                "run": np.full(count, seed, np.int32),
                # Index among the events tried: a filtered sample's ids have gaps.
                "event": event_ids,
                "process_id": np.full(count, process.id, np.int32),
                "weight": weight.astype(np.float32),
                "seed": np.full(count, seed, np.int32),
            }
            arrays.update(
                event_arrays(flat, detector.reconstruct(flat), process, det_cfg["matching"])
            )
            pending.append(arrays)
            pending_events += count
            done += count
            sum_w += float(weight.sum())
            sum_w2 += float((weight * weight).sum())
            sum_nominal += float(nominal.sum())
            if pending_events >= FLUSH_EVENTS:
                writer.extend(_concatenate(pending))
                pending, pending_events = [], 0
            meter.update(tried)
        if pending:
            writer.extend(_concatenate(pending))
        if done == 0:
            reason = f" ({event_filter.describe()}): generate more" if event_filter else ""
            raise GenerationError(f"no events of '{process.name}' passed{reason} ({tried} tried)")
        xsec, xsec_err = run.cross_section_pb()
        # A filtered sample's σ is the σ of its events: Pythia's times the filter efficiency.
        efficiency = sum_nominal / sum_tried if event_filter is not None and sum_tried else 1.0
        xsec, xsec_err = xsec * efficiency, xsec_err * efficiency
        if run.forced_fractions and sum_nominal != 0.0:
            # Forced decays: σ of the generated final state (see evenet.generation.weights).
            scale = sum_w / sum_nominal
            xsec, xsec_err = xsec * scale, xsec_err * scale
        writer.write_runs(
            {
                "run": seed,
                "process_id": process.id,
                "seed": seed,
                "genEventCount": done,
                "genEventSumw": sum_w,
                "genEventSumw2": sum_w2,
                "xsec_pb": xsec,
                "xsec_err_pb": xsec_err,
                "sqrt_s_gev": run.pythia.infoPython().eCM(),
                "n_tried": run.hook.tried if run.hook else 0,
                "veto_acceptance": run.hook.acceptance if run.hook else 1.0,
                "filter_tried": tried,
                "filter_efficiency": efficiency,
                "schema_version": SCHEMA_VERSION,
            }
        )
    meter.update(tried, force=True)  # the meter counts events tried (a filter keeps fewer)
    return ShardSummary(
        output,
        done,
        time.perf_counter() - start,
        init_seconds,
        pythia_seconds,
        xsec,
        xsec_err,
        sum_w,
    )


def _concatenate(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    out = {}
    for key, first in parts[0].items():
        values = [p[key] for p in parts]
        out[key] = ak.concatenate(values) if isinstance(first, ak.Array) else np.concatenate(values)
    return out
