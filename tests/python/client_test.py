"""A client nobody on this project wrote: Python's grpcio, with stubs that
grpcio-tools generates from proto/ here, against a real selki-server.

    python tests/python/client_test.py target/debug/selki-server
"""
import os
import subprocess
import sys
import tempfile
import unittest

import grpc
from grpc_tools import protoc
import importlib.resources

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_KEY = "python-admin-key-0123456789abcdef"
SERVER = None
STUBS = tempfile.mkdtemp(prefix="selki-py-stubs-")


def generate_stubs():
    proto_dir = os.path.join(ROOT, "proto")
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    files = [
        os.path.join(proto_dir, "selki/webhooks/v1", name)
        for name in sorted(os.listdir(os.path.join(proto_dir, "selki/webhooks/v1")))
    ]
    args = ["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={STUBS}", f"--grpc_python_out={STUBS}", *files]
    if protoc.main(args) != 0:
        raise SystemExit("grpcio-tools could not compile the protos")
    sys.path.insert(0, STUBS)


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="selki-py-db-")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": f"sqlite://{self.dir}/selki.db?mode=rwc",
            "SELKI_ADMIN_KEY": ADMIN_KEY,
            "SELKI_LOG": "warn",
        }
        self.process = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE, text=True
        )
        for line in self.process.stdout:
            if line.startswith("selki-server listening on "):
                self.address = line.split()[-1]
                break
        else:
            raise SystemExit("selki-server exited before listening")
        self.channel = grpc.insecure_channel(self.address)

    def stop(self):
        self.channel.close()
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0, "selki-server did not stop cleanly"


def auth():
    return (("authorization", f"Bearer {ADMIN_KEY}"),)


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from selki.webhooks.v1 import webhook_service_pb2_grpc as ws, event_service_pb2_grpc as es
        cls.webhooks = ws.WebhookServiceStub(SERVER.channel)
        cls.events = es.EventServiceStub(SERVER.channel)

    def test_creates_a_webhook_submits_events_and_lists_them(self):
        from selki.webhooks.v1 import webhook_service_pb2 as w, event_service_pb2 as e, events_pb2 as ev

        created = self.webhooks.CreateWebhook(
            w.CreateWebhookRequest(
                organization_id="py-org",
                name="From Python",
                url="https://hooks.example.com/py",
                event_types=[ev.EVENT_TYPE_PHISHING_EMAIL_CLICKED, ev.EVENT_TYPE_THREATS_NEW_THREAT],
                generate_signing_secret=True,
            ),
            metadata=auth(),
        )
        self.assertTrue(created.webhook.id.startswith("wh_"))
        self.assertTrue(created.signing_secret.startswith("whsec_"))

        click = e.EventSubmission(
            organization_id="py-org",
            client_event_id="py-1",
            data=ev.EventData(phishing_email_clicked=ev.PhishingEmail(campaign_id="abc123", email="user@example.com")),
        )
        one = self.events.SubmitEvent(e.SubmitEventRequest(event=click), metadata=auth())
        self.assertTrue(one.event.event_id.startswith("evt_"))
        self.assertEqual(one.event.delivery_count, 1)
        again = self.events.SubmitEvent(e.SubmitEventRequest(event=click), metadata=auth())
        self.assertEqual(again.event.event_id, one.event.event_id)
        self.assertTrue(again.event.duplicate)

        threat = e.EventSubmission(
            organization_id="py-org",
            data=ev.EventData(
                threats_new_threat=ev.NewThreat(
                    id="threat123", category="EMPLOYEES", risk_level=ev.RISK_LEVEL_CRITICAL,
                    url="http://leakeddomain.com", username="jdoe", email="jdoe@company.com",
                )
            ),
        )
        batch = self.events.SubmitEvents(e.SubmitEventsRequest(events=[threat, threat]), metadata=auth())
        self.assertEqual([a.delivery_count for a in batch.events], [1, 1])

        listed = self.webhooks.ListWebhooks(w.ListWebhooksRequest(organization_id="py-org"), metadata=auth())
        self.assertEqual([h.id for h in listed.webhooks], [created.webhook.id])
        self.assertEqual(listed.webhooks[0].name, "From Python")

    def test_bad_input_and_missing_keys_get_precise_codes(self):
        from selki.webhooks.v1 import webhook_service_pb2 as w

        with self.assertRaises(grpc.RpcError) as bad:
            self.webhooks.CreateWebhook(w.CreateWebhookRequest(organization_id="py-org", name=""), metadata=auth())
        self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("name", bad.exception.details())
        with self.assertRaises(grpc.RpcError) as anonymous:
            self.webhooks.ListWebhooks(w.ListWebhooksRequest(organization_id="py-org"))
        self.assertEqual(anonymous.exception.code(), grpc.StatusCode.UNAUTHENTICATED)


if __name__ == "__main__":
    generate_stubs()
    SERVER = Server(sys.argv.pop(1))
    try:
        result = unittest.main(exit=False, verbosity=2).result
    finally:
        SERVER.stop()
    sys.exit(0 if result.wasSuccessful() else 1)
