import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** An invoice: the app's own entity, created with the job that pays it. */
@Entity('sample_invoices')
export class Invoice {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ type: 'varchar', length: 200 })
  customer!: string;

  @Column({ type: 'integer' })
  amountCents!: number;

  /** The job that pays it. */
  @Column({ type: 'integer', nullable: true })
  jobId!: number | null;

  /** Set in the same transaction as its payment and the job's success. */
  @Column({ type: Date, nullable: true })
  paidAt!: Date | null;
}
