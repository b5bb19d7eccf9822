/**
 * A small builder for ONNX graphs on top of the protobufjs-generated `onnx-proto` classes (never
 * hand-written protobuf): `g.op('MatMul', [a, b])` appends a node and returns its output's name,
 * so a forward reads like the tensor code it encodes. Weights are graph INPUTS (fed at run time,
 * see src/model/ort/engine.ts); only small constants (shapes, axes, scalars) are initializers.
 */
import onnxPkg from 'onnx-proto';

const { onnx } = onnxPkg;

/** ONNX element types used here. */
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

/** The opset: 17 is the first with LayerNormalization. (In 17, ReduceSum takes its axes as an input, ReduceMean as an attribute.) */
export const OPSET = 17;

/** An attribute value: number (int if integral and `ints`-free), number[] (ints), string, or {f: x} for a float. */
export type AttrValue = number | number[] | string | { f: number } | { floats: number[] };

/** A dimension: a number, or a symbolic name shared by every value with the same extent. */
export type Dim = number | string;

function attribute(name: string, v: AttrValue): onnxPkg.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: integer expected (use {f: ${v}} for a float)`);
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): onnxPkg.onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

export class GraphBuilder {
  private readonly nodes: onnxPkg.onnx.INodeProto[] = [];
  private readonly inits: onnxPkg.onnx.ITensorProto[] = [];
  private readonly inputs: onnxPkg.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxPkg.onnx.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();
  private readonly used = new Set<string>();
  private counter = 0;

  /** Declare a graph input. */
  input(name: string, dims: readonly Dim[], elemType: number = FLOAT): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /**
   * A float32 initializer whose bytes stay outside the model: ONNX external data at location
   * `name`, to be handed to the session as in-memory external data (SessionOptions.externalData).
   */
  externalInitializer(name: string, dims: readonly number[]): string {
    this.claim(name);
    const bytes = dims.reduce((a, b) => a * b, 4);
    const externalData = [
      { key: 'location', value: name },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(bytes) },
    ];
    this.inits.push({ name, dims: [...dims], dataType: FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData });
    return name;
  }

  /** Declare `value` a graph output named `name` (an Identity node when the names differ). */
  output(value: string, name: string, dims: readonly Dim[], elemType: number = FLOAT): string {
    const out = value === name ? value : this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(out, elemType, dims));
    return out;
  }

  /**
   * Append a node; returns its (single) output's name: `name` if given, else `op_N`. Use `ops` for
   * nodes with several outputs.
   */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, name?: string, domain = ''): string {
    return this.ops(opType, inputs, 1, attrs, name ? [name] : undefined, domain)[0];
  }

  /** Append a node with `nOut` outputs; returns their names. */
  ops(opType: string, inputs: readonly string[], nOut: number, attrs: Record<string, AttrValue> = {}, names?: string[], domain = ''): string[] {
    const id = this.counter++;
    const output = names ?? Array.from({ length: nOut }, (_, i) => `${opType}_${id}${nOut > 1 ? `_${i}` : ''}`);
    for (const o of output) this.claim(o);
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: [...inputs], output, attribute: attribute_, name: `${opType}_${id}`, domain });
    return output;
  }

  /** A float32 constant (scalar if `dims` is []), deduplicated by value. */
  float(values: number | readonly number[], dims: readonly number[] = []): string {
    return this.constant(FLOAT, typeof values === 'number' ? [values] : values, dims);
  }

  /** An int64 constant, 1-D by default (shapes, axes, indices), deduplicated by value. */
  ints(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant(INT64, values, dims);
  }

  /** Number of nodes so far. */
  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialized ModelProto. */
  build(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'spinbath',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: { name: graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private constant(dataType: number, values: readonly number[], dims: readonly number[]): string {
    const key = `${dataType}|${dims.join(',')}|${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = `const_${this.constants.size}`;
    this.claim(name);
    const tensor: onnxPkg.onnx.ITensorProto = { name, dims: [...dims], dataType };
    if (dataType === FLOAT) tensor.floatData = [...values];
    else tensor.int64Data = [...values];
    this.inits.push(tensor);
    this.constants.set(key, name);
    return name;
  }

  private claim(name: string): void {
    if (this.used.has(name)) throw new Error(`ONNX value ${name} is defined twice`);
    this.used.add(name);
  }
}
