"""Reporting what the pipeline did: notifications, commit statuses and failure alerts.

One home, in layers (each module imports only those above it in this list):

- ``stages``: the pipeline's stages (:class:`~llm_platform.reporting.stages.Stage`).
- ``outcomes``: protocols of what reporting reads from ledger events, SLO verdicts, endpoint
  reports, gate decisions and rollouts (it never imports ``promotion``, ``slo`` or
  ``endpoint_tests``; they sit above it).
- ``message``: the channel-neutral :class:`~llm_platform.reporting.message.Message`.
- ``announcements`` (ledger events) and ``failure_alerts`` (failed runs): build messages.
- ``channels/``: the channel registry, one module per channel (``log``, ``slack``).
- ``routes``: which destination a message goes to (environment webhook, global, log).
- ``notify``: delivery along a route (:class:`~llm_platform.reporting.notify.Dispatcher`).
- ``commit_status`` (+ ``github_client``, ``commit_status_settings``): what each stage reports
  to the models-repo commit on GitHub, from the same outcomes, per :class:`Stage`.
"""
