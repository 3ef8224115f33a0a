"""Which resource implementations this deployment uses, picked from the settings."""

import dagster as dg
from pydantic import PrivateAttr

from assets.resources import AnalyticsResource, LiveMarketResource, SampleMarketResource, WarehouseResource
from pipelines.settings import Settings, check_writable
from pipelines.writer import record_run_process

SOURCES = {"sample": SampleMarketResource, "live": LiveMarketResource}


class SettingsResource(AnalyticsResource):
    """The settings in force, as the typed `Settings` model; checked before any asset of a run starts."""

    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SettingsResource":
        return cls(settings_json=settings.model_dump_json())

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.model_validate_json(self.settings_json)
        return self._settings

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # An unwritable warehouse path stops the run before any asset writes.
        check_writable(self.settings.warehouse_path)
        record_run_process(context.instance, context.run.run_id if context.run else None)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=settings.warehouse_path),
        "analytics": SettingsResource.from_settings(settings),
        "market": SOURCES[settings.source].from_settings(settings),
    }
