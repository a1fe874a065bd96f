/**
 * Training configs are checked as specs are: an unknown option (HF Trainer's names answered with
 * ours), a value out of range, a backbone that is not a record, and a plain object missing what
 * trainConfig() fills in are errors naming the option, before any work.
 */
import { describe, expect, it } from 'vitest';
import { train, trainConfig } from '../../src/train/trainer.ts';
import { TrainConfigError } from '../../src/train/train-config.ts';
import { tinyVl } from '../helpers/tiny-vl.ts';

describe('training config', () => {
  it('refuses unknown options with a did-you-mean, and HF Trainer names with ours', () => {
    expect(() => trainConfig({ learning_rate: 1e-3 } as never)).toThrow(
      /cfg: unknown option 'learning_rate': use lr \(HF Trainer's learning_rate\)/,
    );
    expect(() => trainConfig({ num_train_epochs: 3 } as never)).toThrow(/use epochs/);
    expect(() => trainConfig({ epocs: 3 } as never)).toThrow(
      /unknown option 'epocs' \(did you mean 'epochs'\?\); valid: epochs, batch, lr/,
    );
    expect(() => trainConfig({ optimizer: { kind: 'adam' } } as never)).toThrow(
      /cfg\.optimizer\.kind: unknown kind "adam" \(did you mean "adamw"\?\)/,
    );
    expect(() => trainConfig({ optimizer: { kind: 'adamw', weight_decay: 0.1 } } as never)).toThrow(
      /cfg\.optimizer: unknown option 'weight_decay'/,
    );
  });

  it('refuses values out of range and a backbone that is not a record of weights', () => {
    expect(() => trainConfig({ batch: 0 })).toThrow(TrainConfigError);
    expect(() => trainConfig({ epochs: 0 })).toThrow(/cfg\.epochs: Too small/);
    expect(() => trainConfig({ schedule: { kind: 'linear', warmup: 1.5 } })).toThrow(/cfg\.schedule\.warmup/);
    for (const backbone of ['vit/model.safetensors', 5, new Map(), [1, 2]])
      expect(() => trainConfig({ backbone } as never)).toThrow(
        /cfg\.backbone: expected a record of param name -> weights .*not a path, a Map or an array/,
      );
  });

  it('train() refuses a plain object missing options, pointing at trainConfig()', async () => {
    await expect(
      train(null as never, tinyVl().spec, { train: { examples: [] } }, { epochs: 1, batch: 8, lr: 1e-3 } as never),
    ).rejects.toThrow(
      /cfg\.optimizer: required, missing[\s\S]*build it with trainConfig\(\{ \.\.\. \}\), which fills in the defaults/,
    );
  });
});
