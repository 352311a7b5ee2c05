import { afterEach, describe, expect, it } from "vitest";
import { forgetApiKey, loadApiKey, saveApiKey, signInFromLink } from "./apiKey";

describe("signInFromLink", () => {
  afterEach(() => {
    forgetApiKey();
    window.history.replaceState(null, "", "/");
  });

  it("keeps the key of a sign-in link and takes it out of the address", () => {
    window.history.replaceState(null, "", "/researcher/?x=1#key=cru_abc-DEF_123");

    signInFromLink(window.location, window.history);

    expect(loadApiKey()).toBe("cru_abc-DEF_123");
    expect(window.location.hash).toBe("");
    expect(window.location.pathname + window.location.search).toBe("/researcher/?x=1");
  });

  it("leaves other fragments and the stored key alone", () => {
    saveApiKey("cru_kept");
    window.history.replaceState(null, "", "/researcher/#section");

    signInFromLink(window.location, window.history);

    expect(loadApiKey()).toBe("cru_kept");
    expect(window.location.hash).toBe("#section");
  });
});
