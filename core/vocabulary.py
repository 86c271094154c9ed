"""The stored vocabulary front doors speak (roles, platforms, statuses), so bot/ reaches storage only through core."""

from storage.enums import ChatPlatform, ConnectionStatus, DeliveryStatus, Provider, Role

__all__ = ["ChatPlatform", "ConnectionStatus", "DeliveryStatus", "Provider", "Role"]
