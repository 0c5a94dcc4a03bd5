"""Where data come from: finding and reading LSL streams (bounded, always-drained inlets that survive a lost stream
and re-attach it by ``source_id``) and frame sources for the face path (an LSL ``Video`` stream, a camera, a video
file), plus the publisher that puts a camera on LSL. Part of :mod:`affectstream.pipelines` (may import ``models``
and ``core``).
"""
