/**
 * Just enough of the Kubernetes protobuf encoding to accept what kubectl's typed clients send (`kubectl
 * create namespace|secret|configmap|serviceaccount`): client-go always writes built-in objects as
 * `application/vnd.kubernetes.protobuf` — the `k8s\0` magic, a runtime.Unknown envelope, and the object's
 * generated.proto message. Decoded to the JSON form; anything else is refused with 415.
 */
import { ApiError, type JsonObject } from "./types.ts";

type Scalar = "string" | "bytes" | "int" | "bool";
type Field =
  | { name: string; type: Scalar; repeated?: boolean }
  | { name: string; type: "message"; schema: Schema; repeated?: boolean }
  | { name: string; type: "map"; value: "string" | "bytes" };
type Schema = Readonly<Record<number, Field>>;

const TIME: Schema = { 1: { name: "seconds", type: "int" }, 2: { name: "nanos", type: "int" } };

const OWNER_REFERENCE: Schema = {
  1: { name: "kind", type: "string" },
  3: { name: "name", type: "string" },
  4: { name: "uid", type: "string" },
  5: { name: "apiVersion", type: "string" },
  6: { name: "controller", type: "bool" },
  7: { name: "blockOwnerDeletion", type: "bool" },
};

const OBJECT_META: Schema = {
  1: { name: "name", type: "string" },
  2: { name: "generateName", type: "string" },
  3: { name: "namespace", type: "string" },
  5: { name: "uid", type: "string" },
  6: { name: "resourceVersion", type: "string" },
  7: { name: "generation", type: "int" },
  8: { name: "creationTimestamp", type: "message", schema: TIME },
  11: { name: "labels", type: "map", value: "string" },
  12: { name: "annotations", type: "map", value: "string" },
  13: { name: "ownerReferences", type: "message", schema: OWNER_REFERENCE, repeated: true },
  14: { name: "finalizers", type: "string", repeated: true },
};

const KINDS: Readonly<Record<string, Schema>> = {
  "v1/Namespace": {
    1: { name: "metadata", type: "message", schema: OBJECT_META },
    2: {
      name: "spec",
      type: "message",
      schema: { 1: { name: "finalizers", type: "string", repeated: true } },
    },
  },
  "v1/Secret": {
    1: { name: "metadata", type: "message", schema: OBJECT_META },
    2: { name: "data", type: "map", value: "bytes" },
    3: { name: "type", type: "string" },
    4: { name: "stringData", type: "map", value: "string" },
    5: { name: "immutable", type: "bool" },
  },
  "v1/ConfigMap": {
    1: { name: "metadata", type: "message", schema: OBJECT_META },
    2: { name: "data", type: "map", value: "string" },
    3: { name: "binaryData", type: "map", value: "bytes" },
    4: { name: "immutable", type: "bool" },
  },
  "v1/ServiceAccount": {
    1: { name: "metadata", type: "message", schema: OBJECT_META },
    4: { name: "automountServiceAccountToken", type: "bool" },
  },
};

class Reader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  done(): boolean {
    return this.offset >= this.buffer.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.buffer[this.offset++];
      if (byte === undefined) throw new Error("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  bytes(): Buffer {
    const length = Number(this.varint());
    const out = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.offset += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.offset += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

function decodeMessage(buffer: Buffer, schema: Schema): JsonObject {
  const reader = new Reader(buffer);
  const out: JsonObject = {};
  while (!reader.done()) {
    const key = Number(reader.varint());
    const field = schema[key >> 3];
    const wireType = key & 7;
    if (!field) {
      reader.skip(wireType);
      continue;
    }
    let value: unknown;
    if (field.type === "map") {
      const entry = decodeMessage(reader.bytes(), {
        1: { name: "key", type: "string" },
        2: { name: "value", type: field.value },
      });
      const map = (out[field.name] ?? {}) as JsonObject;
      map[String(entry.key ?? "")] = entry.value ?? "";
      out[field.name] = map;
      continue;
    }
    if (field.type === "message") value = decodeMessage(reader.bytes(), field.schema);
    else if (field.type === "string") value = reader.bytes().toString("utf8");
    else if (field.type === "bytes") value = reader.bytes().toString("base64");
    else if (field.type === "int") value = Number(reader.varint());
    else value = reader.varint() !== 0n;
    if (field.repeated) out[field.name] = [...((out[field.name] as unknown[] | undefined) ?? []), value];
    else out[field.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes a protobuf-encoded built-in object, or throws 415 for the kinds this sandbox cannot read. */
export function decodeProtobufObject(body: Buffer): JsonObject {
  const unsupported = () =>
    ApiError.of(
      415,
      "UnsupportedMediaType",
      "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
    );
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupported();
  const unknown = decodeMessage(body.subarray(4), {
    1: {
      name: "typeMeta",
      type: "message",
      schema: { 1: { name: "apiVersion", type: "string" }, 2: { name: "kind", type: "string" } },
    },
    2: { name: "raw", type: "bytes" },
  });
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const schema = KINDS[`${typeMeta.apiVersion ?? ""}/${typeMeta.kind ?? ""}`];
  if (!schema) throw unsupported();
  const object = decodeMessage(Buffer.from(String(unknown.raw ?? ""), "base64"), schema);
  const metadata = (object.metadata ?? {}) as JsonObject;
  // A zero creationTimestamp is how Go encodes "unset".
  delete metadata.creationTimestamp;
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...object, metadata };
}
