"""Developer tools that stand above the services: they may import shared/ and every service."""
