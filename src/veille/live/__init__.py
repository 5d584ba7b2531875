"""``veille watch``: live cameras analysed as they stream, with alerts (MQTT, webhooks).

Per camera one thread reads the stream (:mod:`.camera`), finds activity from packet sizes and a
cheap low-resolution pixel pass (:mod:`.activity`), records each event from a few seconds before
its start by copying packets (:mod:`.recorder`), writes it to the archive (:mod:`.archive`) and
alerts (:mod:`.alerts`); model profiles describe and judge events in a bounded worker (:mod:`.models`).
"""
