#!/usr/bin/python3
"""Locks or unlocks the login collection of the test session's gnome-keyring, without a prompt.

Usage: keyring-lock.py lock|unlock [PASSWORD]   (the password of scripts/with-keyring.sh)
Unlocking uses gnome-keyring's UnlockWithMasterPassword over a plain Secret Service session.
Only for the throwaway keyring of the tests (LATCHKEY_TEST_KEYRING=1).
"""
import os
import sys

import dbus

if os.environ.get("LATCHKEY_TEST_KEYRING") != "1":
    sys.exit("keyring-lock.py: only for the throwaway test keyring (scripts/with-keyring.sh)")
LOGIN = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
bus = dbus.SessionBus()
service = bus.get_object("org.freedesktop.secrets", "/org/freedesktop/secrets")
if sys.argv[1] == "lock":
    service.Lock([LOGIN], dbus_interface="org.freedesktop.Secret.Service")
else:
    password = sys.argv[2] if len(sys.argv) > 2 else "latchkey-test"
    _, session = service.OpenSession(
        "plain", dbus.String("", variant_level=1), dbus_interface="org.freedesktop.Secret.Service"
    )
    secret = dbus.Struct(
        (session, dbus.ByteArray(b""), dbus.ByteArray(password.encode()), "text/plain"),
        signature="oayays",
    )
    service.UnlockWithMasterPassword(
        LOGIN, secret, dbus_interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
    )
collection = bus.get_object("org.freedesktop.secrets", LOGIN)
locked = collection.Get(
    "org.freedesktop.Secret.Collection", "Locked", dbus_interface="org.freedesktop.DBus.Properties"
)
print("locked" if locked else "unlocked")
