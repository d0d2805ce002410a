import { tf } from "./tf-backend";

/**
 * tfjs-core's CommonJS build ships no gradient registrations (they live in the ESM-only
 * register_all_gradients). The GPT-2 graph keeps its heavy ops in custom gradients and needs
 * built-in gradients only for these shape ops, registered here once.
 */

type T = tf.Tensor;

function reduceTo(dy: T, shape: number[]): T {
  const out = dy.shape;
  const lead = out.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && out[i] !== 1) axes.push(i);
  }
  const summed = axes.length > 0 ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, shape);
}

let registered = false;

export function registerGradients(): void {
  if (registered) return;
  registered = true;
  const reg = (config: tf.GradConfig): void => {
    if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);
  };
  reg({
    kernelName: "Reshape",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({ x: () => tf.reshape(dy as T, saved[0].shape) }),
  });
  reg({
    kernelName: "Transpose",
    gradFunc: (dy, _saved, attrs) => {
      const perm = (attrs as { perm: number[] }).perm;
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      return { x: () => tf.transpose(dy as T, inv) };
    },
  });
  reg({
    kernelName: "Add",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => ({
      a: () => reduceTo(dy as T, saved[0].shape),
      b: () => reduceTo(dy as T, saved[1].shape),
    }),
  });
  reg({
    kernelName: "Slice",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0];
      const { begin, size } = attrs as { begin: number[]; size: number[] };
      const paddings = x.shape.map((d, i): [number, number] => {
        const s = size[i] === -1 ? d - begin[i] : size[i];
        return [begin[i], d - begin[i] - s];
      });
      return { x: () => tf.pad(dy as T, paddings) };
    },
  });
  reg({
    kernelName: "SplitV",
    gradFunc: (dy, _saved, attrs) => {
      const axis = (attrs as { axis: number }).axis;
      return { x: () => tf.concat(dy as T[], axis) };
    },
  });
}
