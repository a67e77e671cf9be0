import { Module } from '@nestjs/common';
import { StatusController } from './status.controller.js';
import { SummaryController } from './summary.controller.js';

@Module({ controllers: [StatusController, SummaryController] })
export class StatusModule {}
