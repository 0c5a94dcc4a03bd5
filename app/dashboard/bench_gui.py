"""What the dashboard costs: paint time per frame and frame rate, offscreen, with the demo running.

``bench_gui(seconds)`` starts the simulator (with video) in a child process, opens the dashboard on it offscreen,
waits until estimates flow, and then measures for ``seconds``:

* ``paint_ms_p50`` / ``paint_ms_p95``: per frame, the GUI thread's timer callback (mailbox -> history -> items)
  plus every paint pass Qt runs before the next frame (the window's ``UpdateRequest``);
* ``fps``: frames (timer callbacks that refreshed the display) per second;
* ``cpu_percent``: CPU time of the whole dashboard process (GUI, processing worker, face path) per wall second,
  and ``gui_thread_cpu_percent`` that of the GUI thread alone;
* ``hop_latency_ms_p50`` / ``_p95``: the pipeline's hop latency meanwhile (the GUI must not slow processing);
* per panel, the paint ms per pass and passes per second;
* ``stall_shown_after_kill_s``: at the end the simulator is killed, and this is how long until the window shows
  the EEG stalled or lost (it must within :data:`STALL_SHOWN_BUDGET_S`; a stream is stalled after 1 s of silence).

The numbers include whatever else the machine runs: the simulator child, and any other load.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import uuid

from affectstream.app.dashboard import GUI_SWITCH_INTERVAL_S

#: Longest from the EEG publisher dying to the window showing the stream stalled or lost.
STALL_SHOWN_BUDGET_S = 2.0


def bench_gui(seconds: float = 10.0, *, warmup: float = 2.0, seed: int = 0, video: bool = True,
              timeout: float = 60.0) -> dict:
    """Measure the dashboard with the demo running; returns ``{"paint_ms_p50", "paint_ms_p95", "fps", ...}``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from affectstream.app.dashboard import _application

    app = _application()
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    from affectstream.app.dashboard.main_window import DashboardWindow
    from affectstream.app.dashboard.worker import SourceSpec
    from affectstream.pipelines.bench.stream_faults import expected_losses

    switch = sys.getswitchinterval()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)  # as run_dashboard does
    prefix = f"affectstream-benchgui-{uuid.uuid4().hex[:8]}"
    sim = start_simulator_process(seed, "sim01", seconds + warmup + timeout, video=video, prefix=prefix)
    window = None
    quiet = contextlib.ExitStack()
    try:
        spec = SourceSpec("EEG", eeg_source_id=f"{prefix}-eeg", video="Video" if video else None,
                          video_source_id=f"{prefix}-video" if video else None,
                          markers_source_id=f"{prefix}-markers", truth_source_id=f"{prefix}-truth",
                          resolve_timeout=20.0)
        window = DashboardWindow(spec, publish=False, list_streams=False)
        window.show()
        _wait_for_estimates(app, window, timeout)
        _run_for(app, warmup)
        first_frame = len(window.frame_times)
        ticks0 = window.ticks
        panels = {"traces": window.traces, "eeg": window.eeg_panel, "topomaps": window.topomaps,
                  "video": window.video}

        def painted(panel) -> tuple[float, int]:
            return sum(c.paint_ms for c in panel.canvases), sum(c.paints for c in panel.canvases)

        paint0 = {k: painted(p) for k, p in panels.items()}
        cpu0, gui0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        _run_for(app, seconds)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        gui_cpu = time.thread_time() - gui0
        stats = window.frame_times.stats(first_frame)
        latency = window.history.latency_stats(last=int(4 * seconds))
        frames = stats.get("frames", 0)
        result = {
            "paint_ms_p50": round(stats.get("paint_ms_p50", math.nan), 2),
            "paint_ms_p95": round(stats.get("paint_ms_p95", math.nan), 2),
            "fps": round(frames / wall, 1),
            "timer_fps": round((window.ticks - ticks0) / wall, 1),
            "tick_ms_p50": round(stats.get("tick_ms_p50", math.nan), 2),
            "render_ms_p95": round(stats.get("render_ms_p95", math.nan), 2),
            "cpu_percent": round(100.0 * cpu / wall, 1),
            "gui_thread_cpu_percent": round(100.0 * gui_cpu / wall, 1),
            "seconds": round(wall, 1),
            "frames": frames,
            "panels": {k: _panel_cost(painted(p), paint0[k], wall) for k, p in panels.items()},
            "hops": window.history.hops.n,
            "hop_latency_ms_p50": round(latency[0], 2),
            "hop_latency_ms_p95": round(latency[1], 2),
            "video": video,
            "platform": app.platformName(),
        }
        quiet.enter_context(expected_losses())  # the kill loses every stream on purpose
        result["stall_shown_after_kill_s"] = _stall_shown_after_kill(app, window, sim, timeout)
        result["stall_shown_budget_s"] = STALL_SHOWN_BUDGET_S
        return result
    finally:
        if window is not None:
            window.close()
        stop_process(sim)
        sys.setswitchinterval(switch)
        quiet.close()


def _panel_cost(now: tuple[float, int], before: tuple[float, int], wall: float) -> dict:
    ms, n = now[0] - before[0], now[1] - before[1]
    return {"ms_per_paint": round(ms / max(1, n), 2), "paints_per_s": round(n / wall, 1),
            "ms_per_s": round(ms / wall, 1)}


def _wait_for_estimates(app, window, timeout: float) -> None:
    """Process events until the window drew an estimate and a scalp map; RuntimeError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while window.history.hops.n == 0 or window.topomaps.updates == 0:
        if time.monotonic() > deadline or window.history.snapshot.state == "error":
            raise RuntimeError(f"the demo sent no estimate within {timeout:g} s: "
                               f"{window.history.snapshot.error or window.history.snapshot.state}")
        app.processEvents()
        time.sleep(0.005)


def _stall_shown_after_kill(app, window, sim, timeout: float) -> float:
    """Kill the simulator; seconds until the window shows the EEG stalled or lost (NaN: not within ``timeout``)."""
    sim.kill()
    killed = time.perf_counter()
    while True:
        eeg = window.history.snapshot.streams.get("EEG")
        if eeg is not None and eeg.state in ("stalled", "lost"):
            return round(time.perf_counter() - killed, 3)
        if time.perf_counter() - killed > timeout:
            return math.nan
        app.processEvents()
        time.sleep(0.001)


def _run_for(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


if __name__ == "__main__":  # python -m affectstream.app.dashboard.bench_gui [seconds]
    import json

    print(json.dumps(bench_gui(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0), indent=2))
