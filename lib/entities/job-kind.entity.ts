import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { JOB_KINDS_TABLE } from '../jobs.constants.js';
import { epochMillis } from './column-transformers.js';

/**
 * A registered kind of job (the seed's JobKind), upserted by every instance that has its handler.
 * Created by the module, never by TypeORM's synchronize (see JobEntity).
 */
@Entity({ name: JOB_KINDS_TABLE, synchronize: false })
export class JobKindEntity {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 200, unique: true })
  name!: string;

  @Column({ type: 'bigint', transformer: epochMillis })
  created!: Date;

  @Column({ type: 'bigint', transformer: epochMillis })
  modified!: Date;

  /**
   * When an instance whose runner has a handler for this kind last said so (at its start, then
   * about once a minute). Null, or older than a few minutes: no running instance handles the kind.
   */
  @Column({ name: 'handled_at', type: 'bigint', nullable: true, transformer: epochMillis })
  handledAt!: Date | null;

  /**
   * The concurrency and rate limits the code of this kind declares (JSON of `KindLimits`), written
   * by each instance that handles it at its start; null when it declares none.
   */
  @Column({ type: 'text', nullable: true })
  limits!: string | null;
}
