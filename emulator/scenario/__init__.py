"""Scenarios: deploy, drive traffic, assert, report, tear down."""
