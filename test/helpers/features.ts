/** Feature definitions for tests whose model packages declare a feature service. */

const IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

/** An entity, a file source (never read), one view holding `features` and a service serving all of them. */
export function serviceDefinitions(service: string, features: readonly string[]) {
  return {
    entities: [{ kind: "entity", name: "item", joinKeys: ["item_id"], valueType: "Int64" }],
    sources: [{ kind: "file_source", name: `${service}_src`, path: `/nonexistent/${service}.parquet`, timestampField: "ts" }],
    featureViews: [{ kind: "feature_view", name: `${service}_view`, entities: ["item"], source: `${service}_src`, schema: features.map((name) => ({ name, dtype: "Float32" })) }],
    featureServices: [{ kind: "feature_service", name: service, features: [{ view: `${service}_view` }] }],
  };
}

/** Applies `serviceDefinitions(service, features)` to the server's feature store. */
export async function applyFeatureService(serverUrl: string, service: string, features: readonly string[]): Promise<void> {
  const res = await fetch(`${serverUrl}/api/v1/features/apply`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ definitions: serviceDefinitions(service, features) }),
  });
  if (res.status !== 200) throw new Error(`applying feature definitions failed: ${res.status} ${await res.text()}`);
}

/** Makes packages that declare the `iris_features` service (the four iris measurements) register READY. */
export function applyIrisFeatures(serverUrl: string): Promise<void> {
  return applyFeatureService(serverUrl, "iris_features", IRIS_FEATURES);
}
