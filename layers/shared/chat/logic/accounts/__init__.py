"""Accounts: registering, logging in and who-am-I (`sign_in`), passwords, access tokens."""
