import { describe, expect, it } from "vitest";
import { blocklistExportUrl, bundleExportUrl } from "./exports";

describe("export URLs", () => {
  it("carry only the filters that are set", () => {
    expect(bundleExportUrl({})).toBe("/api/stix-objects/export/");
    expect(bundleExportUrl({ feed: 3, type: "", run: undefined })).toBe("/api/stix-objects/export/?feed=3");
    expect(bundleExportUrl({ run: "12", type: "indicator" })).toBe("/api/stix-objects/export/?run=12&type=indicator");
  });

  it("name the blocklist format", () => {
    expect(blocklistExportUrl({ format: "txt", kind: "ipv4", feed: 2 })).toBe("/api/indicators/export/?format=txt&kind=ipv4&feed=2");
    expect(blocklistExportUrl({ format: "csv" })).toBe("/api/indicators/export/?format=csv");
  });
});
