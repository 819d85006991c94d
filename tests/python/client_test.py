"""Calls a running AccessDelegation server through the Python stubs the build generates.

ctest runs this file inside tests/support/with_server.sh, which starts the server binary
and sets ACCESSDELEGATION_TARGET and ACCESSDELEGATION_SERVICE_TOKEN_FILE. PYTHONPATH must
contain build/python, for the accessdelegation.v1 stubs, and the directory with the
grpc_health.v1 stubs that tests/python/CMakeLists.txt generates.
"""

import os
import unittest
import uuid

import grpc
from accessdelegation.v1 import accounts_pb2
from accessdelegation.v1 import accounts_pb2_grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

# Deadline of each call, in seconds. Creating an account hashes a password, which takes
# about 100 ms.
CALL_TIMEOUT_SECONDS = 10


def read_service_token():
    """Return the raw service token from the file that with_server.sh wrote."""
    with open(os.environ["ACCESSDELEGATION_SERVICE_TOKEN_FILE"], encoding="ascii") as file:
        return file.read().strip()


def new_account_request(email):
    """Return a valid CreateAccountRequest for `email`."""
    return accounts_pb2.CreateAccountRequest(
        email=email,
        password="correct horse battery",
        first_name="Pat",
        last_name="Python",
        phone_number="+14155550123",
    )


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(os.environ["ACCESSDELEGATION_TARGET"])
        cls.accounts = accounts_pb2_grpc.AccountsStub(cls.channel)
        cls.service_metadata = [("authorization", f"Bearer {read_service_token()}")]

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def test_health_check_is_serving(self):
        health = health_pb2_grpc.HealthStub(self.channel)

        response = health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_SECONDS)

        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)

    def test_sign_in_with_wrong_password_is_unauthenticated(self):
        request = accounts_pb2.SignInRequest(
            email="nobody@example.com", password="wrong-password-123")

        with self.assertRaises(grpc.RpcError) as raised:
            self.accounts.SignIn(request, timeout=CALL_TIMEOUT_SECONDS)

        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_create_account_with_service_token(self):
        email = f"pat.{uuid.uuid4().hex[:12]}@example.com"

        response = self.accounts.CreateAccount(
            new_account_request(email),
            metadata=self.service_metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

        self.assertEqual(len(response.account.account_id), 36)
        self.assertEqual(response.account.email, email)
        self.assertEqual(response.account.first_name, "Pat")
        self.assertEqual(response.account.phone_number, "+14155550123")
        self.assertGreater(response.account.create_time.seconds, 0)

    def test_created_account_can_sign_in(self):
        email = f"pat.{uuid.uuid4().hex[:12]}@example.com"
        self.accounts.CreateAccount(
            new_account_request(email),
            metadata=self.service_metadata,
            timeout=CALL_TIMEOUT_SECONDS,
        )

        response = self.accounts.SignIn(
            accounts_pb2.SignInRequest(email=email, password="correct horse battery"),
            timeout=CALL_TIMEOUT_SECONDS,
        )

        self.assertTrue(response.session_token)
        self.assertEqual(response.account.email, email)

    def test_create_account_without_token_is_unauthenticated(self):
        email = f"pat.{uuid.uuid4().hex[:12]}@example.com"

        with self.assertRaises(grpc.RpcError) as raised:
            self.accounts.CreateAccount(
                new_account_request(email), timeout=CALL_TIMEOUT_SECONDS)

        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAUTHENTICATED)


if __name__ == "__main__":
    unittest.main(verbosity=2)
