/** Registers every primitive; import this (not the files) to get a complete op table. */
import './leaves.ts';
import './elementwise.ts';
import './reduce.ts';
import './row.ts';
import './matmul.ts';
import './layout.ts';
import './indexing.ts';
import './random.ts';

export { allOps, getOp, ShapeError, type OpDef, type OpExample, type Domain } from './table.ts';
