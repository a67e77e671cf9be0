import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** A webmention as received: the app's own entity, saved in the same transaction as its job. */
@Entity('sample_webmentions')
export class Webmention {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 2000 })
  source!: string;

  @Column({ type: 'varchar', length: 2000 })
  target!: string;

  /** Set by the job once the URLs check out. */
  @Column({ type: 'boolean', default: false })
  verified!: boolean;

  /** The job that verifies it. */
  @Column({ type: 'integer', nullable: true })
  jobId!: number | null;
}
