"""Commands to devices: the OwnTracks remote command ``reportLocation``, which makes a phone
publish its position at once (a check-in, 信息化核查).

The OwnTracks app subscribes to ``<base topic>/cmd`` and obeys ``{"_type": "cmd", "action":
"reportLocation"}`` by publishing a ``location`` whose ``t`` (trigger) is ``"r"``, on its own
topic, like any other fix. A phone's base topic is ``owntracks/<user>/<device>`` where the
user is its MQTT user, which for Cordon is the device id (see :mod:`devices.credentials`): the
app's default base topic, ``owntracks/%u/%d``, with the app's *Device ID* set to the same id.
Under partitions the base topic carries the person's ``p<k>/`` prefix (:mod:`devices.topics`).

The broker lets only Cordon's own user write a ``…/cmd`` topic, and each phone read only its
own (the ACL, :func:`devices.credentials.acl_file`). Commands go out at QoS 1, not retained (a
retained command would be obeyed again at every reconnect); a phone's persistent session
keeps one sent while it was away.

>>> command_topic("ph-42"), command_topic("ph-42", 3)
('owntracks/ph-42/ph-42/cmd', 'p3/owntracks/ph-42/ph-42/cmd')
>>> REPORT_LOCATION
b'{"_type":"cmd","action":"reportLocation"}'
"""

from __future__ import annotations

import asyncio
import logging

import paho.mqtt.client as paho

from devices.topics import owntracks_topic, partition_of

log = logging.getLogger(__name__)

REPORT_LOCATION = b'{"_type":"cmd","action":"reportLocation"}'
SEND_TIMEOUT_S = 5.0


def command_topic(device_id: str, partition: int | None = None) -> str:
    """The topic a phone reads its commands on."""
    return owntracks_topic(device_id, device_id, partition) + "/cmd"


class DeviceCommands:
    """A publisher of device commands in the API process: its own MQTT connection, as
    Cordon's user, reconnecting on its own."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None,
                 client_id: str, partitions: int = 1):
        self._addr = (host, port)
        self.partitions = partitions
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=paho.MQTTv5)
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._started = False

    def topic_of(self, device_id: str, supervisee_id: str) -> str:
        """The command topic of a person's phone, in the person's partition."""
        return command_topic(device_id, partition_of(supervisee_id, self.partitions))

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def start(self) -> None:
        if not self._started:
            self._client.connect_async(*self._addr, keepalive=30)
            self._client.loop_start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False

    async def run(self) -> None:
        """Keep the connection until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            self.stop()

    async def report_location(self, topic: str, timeout_s: float = SEND_TIMEOUT_S) -> bool:
        """Ask the phone reading ``topic`` for its position; True once the broker has taken
        the command, False when it could not be sent now (not connected, or refused)."""
        if not self.connected:
            return False
        info = self._client.publish(topic, REPORT_LOCATION, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                while not info.is_published():
                    await asyncio.sleep(0.01)
        except (RuntimeError, ValueError) as exc:  # paho: the publish failed
            log.warning("command to %s not sent: %s", topic, exc)
            return False
        except TimeoutError:
            log.warning("command to %s not acknowledged by the broker in %.0f s", topic,
                        timeout_s)
            return False
        return True
