import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { JobsModule } from 'nestjs-typeorm-jobs';
import { UsersModule } from './users.module';

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'better-sqlite3',
      database: process.env.CJS_APP_DATABASE ?? 'app.db',
      autoLoadEntities: true,
      synchronize: true,
    }),
    JobsModule.forRoot({ pollInterval: 100 }),
    UsersModule,
  ],
})
export class AppModule {}
