"""Notifications: rules that turn the operational events apps raise (syncsite.events) into mails and webhooks."""
